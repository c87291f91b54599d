package train

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/data"
	"github.com/scoregen/scoregen/evaluate"
	"github.com/scoregen/scoregen/model"
	"github.com/scoregen/scoregen/quality"
)

// JudgeDir is the judge that train.eval_every scores samples with:
// train.judge, or runs/<data.name>_classifier where that is "" (where
// make eval-nets trains it).
func JudgeDir(cfg *configs.Config) string {
	if cfg.Train.Judge != "" {
		return cfg.Train.Judge
	}
	return filepath.Join("runs", cfg.Data.Name+"_classifier")
}

// evalBatch is the sampler's batch when scoring over training: sample.n,
// the grid's, which the config already expects to fit, or eval_n if
// fewer.
func evalBatch(cfg *configs.Config) int { return min(cfg.Train.EvalN, cfg.Sample.N) }

// checkScoring refuses, before any step, a run with train.eval_every that
// cannot score its samples: no judge or test set, a judge of another data
// set, a test set of other images, fewer images than the judge has
// features, or (where the family can tell) a sampler's batch that does
// not fit.
func checkScoring(f model.Family, cfg *configs.Config, ds *data.Dataset, opt Options) error {
	if cfg.Train.EvalEvery == 0 {
		return nil
	}
	if opt.Judge == nil || opt.Test == nil {
		return fmt.Errorf("train.eval_every %d: no judge or test set to score samples with", cfg.Train.EvalEvery)
	}
	if got := opt.Judge.Dataset(); got != cfg.Data.Name {
		return fmt.Errorf("train.judge %s was trained on %s, data.name is %s: want a judge of %s (make eval-nets trains one)", JudgeDir(cfg), got, cfg.Data.Name, cfg.Data.Name)
	}
	c, h, w := f.ImageShape()
	if t := opt.Test; t.C != c || t.H != h || t.W != w || t.N < 2 {
		return fmt.Errorf("train.eval_every: test set %s has %d images of %dx%dx%d, want at least 2 of %dx%dx%d", t.Name, t.N, t.C, t.H, t.W, c, h, w)
	}
	// A Fréchet distance needs more images than the judge has features,
	// in the samples and in the real sets, which Score cuts to as many.
	if n, dim := min(cfg.Train.EvalN, opt.Test.N, ds.N), opt.Judge.Dim(); n <= dim {
		return fmt.Errorf("train.eval_n %d: %d images (of the samples, %d test and %d training images) for a judge of %d features; want more images than features",
			cfg.Train.EvalN, n, opt.Test.N, ds.N, dim)
	}
	if ch, ok := f.(model.SamplingChecker); ok {
		return ch.CheckSampling(evalBatch(cfg), cfg.Device, "sample.n")
	}
	return nil
}

// scoreSamples draws train.eval_n samples from the EMA weights (where the
// family keeps them) and scores them with the judge against the test set,
// returning the figures under their metrics names ("fd", "kid", ...). The
// sampler's noise comes from sample.seed alone, the same at every
// evaluation, so that successive figures differ by the weights only; it
// reads the weights and touches no training state. Cancelling ctx (Ctrl-C)
// stops it between the sampler's batches, as sampling eval_n images can
// take minutes.
func (tr *Trainer) scoreSamples(ctx context.Context) (map[string]float64, error) {
	n, batch := tr.cfg.Train.EvalN, evalBatch(tr.cfg)
	w, err := tr.Weights()
	if err != nil {
		return nil, err
	}
	m, err := tr.family.NewSampler(w, batch, model.SampleOptions{Device: tr.cfg.Device, GPU: tr.cfg.GPU, EMA: true, Sample: tr.cfg.Sample})
	if err != nil {
		return nil, err
	}
	defer m.Close()
	c, h, wd := tr.family.ImageShape()
	d := c * h * wd
	x, all := make([]float32, batch*d), make([]float32, n*d)
	for first := 0; first < n; first += batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := m.SampleAt(first, x, nil); err != nil {
			return nil, err
		}
		copy(all[first*d:], x[:min(batch, n-first)*d])
	}
	if tr.reference == nil {
		if tr.reference, err = evaluate.NewReference(tr.judge, tr.test, tr.ds, min(n, tr.test.N, tr.ds.N)); err != nil {
			return nil, err
		}
	}
	r, err := tr.reference.Score(all, n)
	if err != nil {
		return nil, err
	}
	return reportValues(r)
}

// reportValues is r under its JSON names, so that metrics.jsonl and
// cmd/eval --json call a figure the same.
func reportValues(r quality.Report) (map[string]float64, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	var v map[string]float64
	return v, json.Unmarshal(b, &v)
}
