// Package train is the one training loop for every model family (a
// model.Family): it streams batches, compiles the family's updates on the
// CPU or the GPU with one optimiser per parameter group (Adam with
// warm-up and global-norm clipping, an EMA of the weights), and writes
// logs, a metrics file, sample grids, the judge's scores of samples over
// training, and checkpoints that a resumed run continues bit for bit. It
// knows no family.
package train

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"time"

	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/ckpt"
	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/data"
	"github.com/scoregen/scoregen/evaluate"
	"github.com/scoregen/scoregen/grid"
	"github.com/scoregen/scoregen/internal/atomicfile"
	"github.com/scoregen/scoregen/model"
	"github.com/scoregen/scoregen/nn"
)

// metricsFile is the name, in train.out_dir, of the file that gets a JSON
// line of Stats every train.log_every steps.
const metricsFile = "metrics.jsonl"

// Options are how a run reports and starts.
type Options struct {
	Resume   bool         // continue from the newest intact checkpoint in train.out_dir, or step 0 if none
	Log      *slog.Logger // progress messages; nil discards them
	Progress io.Writer    // a terminal for the progress bar; nil for none
	// Judge and Test score samples every train.eval_every steps (against
	// Test, with the training set for the floor); needed only then.
	Judge evaluate.Judge
	Test  *data.Dataset
}

// Trainer holds one run's state: the family's training graph compiled on
// the config's device with its optimisers, and the data stream.
type Trainer struct {
	cfg    *configs.Config
	family model.Family
	c      *compiled
	dev    runner
	loader *data.Loader
	step   int
	// runsPerStep is the number of update runs in a step: the keys of a
	// step's randomness are step*runsPerStep + the run's index.
	runsPerStep int

	x0 []float32 // the current clean batch
	// classes and labels are the current batch's classes and their
	// one-hot rows for the graph's Labels; nil when it has none.
	classes []uint8
	labels  []float32
	// judge, test and ds score samples over training (train.eval_every).
	judge evaluate.Judge
	// reference is the real images' side of the scores, computed at the
	// first evaluation.
	reference *evaluate.Reference
	test, ds  *data.Dataset
	log       *slog.Logger
	progress  io.Writer
}

// cpuBF16 is whether the CPU runner multiplies in BF16: when the config
// asks for it and the CPU has it (otherwise FP32, said once in the log).
func cpuBF16(cfg *configs.Config, log *slog.Logger) bool {
	if cfg.Precision != "bf16" {
		return false
	}
	if !nn.HasBF16() {
		if log != nil {
			log.Warn("precision bf16: this CPU has no AVX-512 BF16 instructions; training in fp32")
		}
		return false
	}
	return true
}

// New builds family f's training step for cfg on ds, initialised from
// train.seed, on the config's device.
func New(f model.Family, cfg *configs.Config, ds *data.Dataset, opt Options) (*Trainer, error) {
	if f.Type() != cfg.Model.Type {
		return nil, fmt.Errorf("a %s family for a config with model.type %s", f.Type(), cfg.Model.Type)
	}
	c, h, w := f.ImageShape()
	if ds.C != c || ds.H != h || ds.W != w {
		return nil, fmt.Errorf("data set %s has %dx%dx%d images, the %s model expects %dx%dx%d",
			ds.Name, ds.C, ds.H, ds.W, cfg.Data.Name, c, h, w)
	}
	if err := checkScoring(f, cfg, ds, opt); err != nil {
		return nil, err
	}
	batch := cfg.Data.BatchSize
	tg, err := f.TrainGraph(batch, cfg.Train.Seed)
	if err != nil {
		return nil, err
	}
	comp, err := compile(tg, tensor.Shape{batch, c, h, w})
	if err != nil {
		return nil, fmt.Errorf("model.type %s: %w", f.Type(), err)
	}
	var dev runner
	switch cfg.Device {
	case "cpu":
		dev, err = newCPURunner(comp, cpuBF16(cfg, opt.Log))
	case "cuda":
		if cfg.Precision == "bf16" && opt.Log != nil {
			opt.Log.Warn("precision bf16 is for the CPU; training on cuda in fp32 (gpu.tf32 speeds up its products)")
		}
		dev, err = newGPURunner(comp, cfg)
	default:
		err = fmt.Errorf("device %q: want cpu or cuda", cfg.Device)
	}
	if err != nil {
		return nil, err
	}
	tr := &Trainer{cfg: cfg, family: f, c: comp, dev: dev,
		x0: make([]float32, batch*c*h*w), log: opt.Log, progress: opt.Progress,
		judge: opt.Judge, test: opt.Test, ds: ds}
	for _, u := range tg.Updates {
		tr.runsPerStep += max(u.Repeat, 1)
	}
	if tg.Labels != nil {
		if err := checkLabels(ds, tg.Labels.Shape()[1], f.Type()); err != nil {
			dev.close()
			return nil, err
		}
		tr.classes, tr.labels = make([]uint8, batch), make([]float32, tg.Labels.Shape().TotalSize())
	}
	if tr.log == nil {
		tr.log = slog.New(slog.DiscardHandler)
	}
	if tr.loader, err = data.NewLoader(ds, batch, cfg.Train.Seed, cfg.Data.Flip); err != nil {
		dev.close()
		return nil, err
	}
	if opt.Resume {
		if err := tr.resume(); err != nil {
			tr.Close()
			return nil, err
		}
	}
	return tr, nil
}

// Close stops the data stream and releases the device.
func (tr *Trainer) Close() {
	tr.loader.Close()
	tr.dev.close()
}

// Memory is the bytes of the compiled step's buffers, and on a GPU the
// peak of the device memory taken (0 on the CPU).
func (tr *Trainer) Memory() (plan, devicePeak int64) { return tr.dev.memory() }

// Step is the number of steps done.
func (tr *Trainer) Step() int { return tr.step }

// Weights returns, for the model.Weights of a sampler, the current
// parameters and their EMA (on the CPU, views of the step's memory).
func (tr *Trainer) Weights() (model.Weights, error) {
	st, err := tr.dev.state()
	if err != nil {
		return nil, err
	}
	byName := map[string][]float32{}
	for g, group := range tr.c.tg.Groups {
		for i, p := range group.Params {
			byName[p.Name()] = st.Groups[g].Params[i]
			if st.Groups[g].EMA != nil {
				byName[ckpt.EMAPrefix+p.Name()] = st.Groups[g].EMA[i]
			}
		}
	}
	for i, s := range tr.c.tg.State {
		byName[s.Value.Name()] = st.State[i]
	}
	return func(name string) ([]float32, bool) {
		v, ok := byName[name]
		return v, ok
	}, nil
}

// TrainStep runs one step: each update of the family in order, as many
// times as it repeats, each with the next batch when it reads data. A loss
// or gradient norm that is not finite is an error naming the step, and
// that update changes nothing.
func (tr *Trainer) TrainStep() (Stats, error) {
	start := time.Now()
	st := Stats{Step: tr.step + 1, Values: map[string]float64{}}
	images, run := 0, 0
	for u, up := range tr.c.tg.Updates {
		group := tr.c.tg.Groups[up.Group]
		lr := group.Optim.LRAt(tr.step + 1)
		repeat := max(up.Repeat, 1)
		var sum result
		for range repeat {
			var x0, labels []float32
			if up.Data {
				if err := tr.loader.Next(tr.x0, tr.classes); err != nil {
					return Stats{}, err
				}
				x0, images = tr.x0, images+tr.cfg.Data.BatchSize
				if tr.labels != nil {
					oneHot(tr.labels, tr.classes)
					labels = tr.labels
				}
			}
			// Each run's randomness is keyed by (seed, step, run), so a
			// resumed run draws what the uninterrupted one would have.
			key := uint64(tr.step)*uint64(tr.runsPerStep) + uint64(run)
			run++
			res, err := tr.dev.run(u, x0, labels, key, tr.step, lr)
			if err != nil {
				return Stats{}, fmt.Errorf("step %d: %w", tr.step+1, err)
			}
			if !finite(res.loss) || !finite(res.norm) {
				return Stats{}, fmt.Errorf("step %d: %sloss %v, gradient norm %v: training diverged", tr.step+1, named(up.Name), res.loss, res.norm)
			}
			sum.loss += res.loss / float64(repeat)
			sum.norm += res.norm / float64(repeat)
			for i, m := range res.metrics {
				if i == len(sum.metrics) {
					sum.metrics = append(sum.metrics, 0)
				}
				sum.metrics[i] += m / float64(repeat)
			}
		}
		prefix := ""
		if up.Name != "" {
			prefix = up.Name + "."
		}
		st.Values[prefix+"loss"], st.Values[prefix+"grad_norm"], st.Values[prefix+"lr"] = sum.loss, sum.norm, lr
		for i, m := range up.Metrics {
			st.Values[prefix+m.Name] = sum.metrics[i]
		}
	}
	tr.step++
	st.Images, st.ImagesPerS = images, float64(images)/time.Since(start).Seconds()
	return st, nil
}

// checkLabels refuses a data set whose labels a graph of classes classes
// cannot take: none, or one of classes or more.
func checkLabels(ds *data.Dataset, classes int, family string) error {
	if len(ds.Labels) != ds.N {
		return fmt.Errorf("data set %s has %d labels for %d images; the %s model trains on a label per image", ds.Name, len(ds.Labels), ds.N, family)
	}
	for i, l := range ds.Labels {
		if int(l) >= classes {
			return fmt.Errorf("data set %s: image %d has label %d, the %s model has %d classes (0 to %d)", ds.Name, i, l, family, classes, classes-1)
		}
	}
	return nil
}

// oneHot writes a row per class into dst: 1 in the class's column, 0
// elsewhere.
func oneHot(dst []float32, classes []uint8) {
	clear(dst)
	k := len(dst) / len(classes)
	for i, c := range classes {
		dst[i*k+int(c)] = 1
	}
}

// named is "update NAME: " for a named update, else "".
func named(name string) string {
	if name == "" {
		return ""
	}
	return "update " + name + ": "
}

// Run trains to train.steps, logging, checkpointing and sampling on the
// schedule of the config. When ctx is cancelled (Ctrl-C) it writes a
// checkpoint and returns nil.
func (tr *Trainer) Run(ctx context.Context) error {
	c := tr.cfg.Train
	if err := os.MkdirAll(c.OutDir, 0o755); err != nil {
		return err
	}
	removed, err := atomicfile.RemoveTemps(c.OutDir)
	for _, path := range removed {
		tr.log.Info("removed a temporary file left by an interrupted save", "path", path)
	}
	if err != nil {
		return err
	}
	metrics, err := os.OpenFile(filepath.Join(c.OutDir, metricsFile), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer metrics.Close()
	bar := newProgress(tr.progress, tr.step, c.Steps)
	tr.log.Info("training", "model", tr.family.Type(), "data", tr.cfg.Data.Name, "device", tr.cfg.Device, "precision", tr.cfg.Precision, "params", paramCount(tr.c.tg.Groups),
		"batch", tr.cfg.Data.BatchSize, "from_step", tr.step, "to_step", c.Steps, "out_dir", c.OutDir)
	for tr.step < c.Steps {
		if ctx.Err() != nil {
			bar.done()
			path, err := tr.Save()
			if err == nil {
				tr.log.Info("interrupted: checkpoint written", "step", tr.step, "path", path)
			}
			return err
		}
		st, err := tr.TrainStep()
		if err != nil {
			bar.done()
			return err
		}
		bar.update(st)
		scored := c.EvalEvery > 0 && st.Step%c.EvalEvery == 0
		if scored {
			figures, err := tr.scoreSamples(ctx)
			switch {
			case err != nil && ctx.Err() != nil:
				// Interrupted: the step goes without its figures, and the
				// loop's next turn writes the checkpoint.
				tr.log.Info("interrupted while scoring samples: no figures for this step", "step", st.Step)
			case err != nil:
				bar.done()
				return fmt.Errorf("step %d: scoring samples (train.eval_every): %w", st.Step, err)
			default:
				maps.Copy(st.Values, figures)
			}
		}
		// A scored step always gets its line, so that the figures are kept.
		if scored || st.Step%c.LogEvery == 0 || st.Step == c.Steps {
			line, err := json.Marshal(st)
			if err != nil {
				return fmt.Errorf("step %d: metrics %v: %w", st.Step, st.Values, err)
			}
			if _, err := fmt.Fprintf(metrics, "%s\n", line); err != nil {
				return fmt.Errorf("writing %s: %w", metrics.Name(), err)
			}
			tr.log.Info("step", st.logArgs()...)
		}
		if st.Step%c.CkptEvery == 0 || st.Step == c.Steps {
			if _, err := tr.Save(); err != nil {
				return err
			}
		}
		if c.SampleEvery > 0 && st.Step%c.SampleEvery == 0 {
			path := filepath.Join(c.OutDir, fmt.Sprintf("samples_%08d.png", st.Step))
			if err := tr.SampleGrid(path); err != nil {
				return err
			}
			tr.log.Info("samples written", "step", st.Step, "path", path)
		}
	}
	bar.done()
	return nil
}

// SampleGrid samples sample.n images from the EMA weights (where the
// family keeps them) and writes them as a PNG grid.
func (tr *Trainer) SampleGrid(path string) error {
	n := tr.cfg.Sample.N
	w, err := tr.Weights()
	if err != nil {
		return err
	}
	m, err := tr.family.NewSampler(w, n, model.SampleOptions{Device: tr.cfg.Device, GPU: tr.cfg.GPU, EMA: true, Sample: tr.cfg.Sample})
	if err != nil {
		return err
	}
	defer m.Close()
	c, h, wd := tr.family.ImageShape()
	x := make([]float32, n*c*h*wd)
	if err := m.SampleAt(0, x, nil); err != nil {
		return err
	}
	return grid.WritePNG(path, x, n, c, h, wd, grid.Columns(n))
}

func paramCount(groups []model.Group) int {
	n := 0
	for _, g := range groups {
		for _, p := range g.Params {
			n += p.Shape().TotalSize()
		}
	}
	return n
}
