package train

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/scoregen/scoregen/ckpt"
	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/data"
	"github.com/scoregen/scoregen/model"
)

// tileJudge stands in for the judge network: its features are the means
// of the four 14x14 quarters of a 28x28 image, and its class (of 10) the
// brightest quarter, with probability 0.9. It counts the images it scores.
type tileJudge struct {
	dataset string
	images  *int
}

func (j tileJudge) Dataset() string { return j.dataset }
func (j tileJudge) Dim() int        { return 4 }

func (j tileJudge) Run(x []float32, n int) (features, probs []float64, err error) {
	*j.images += n
	for i := range n {
		var f [4]float64
		for p, v := range x[i*784 : (i+1)*784] {
			f[(p/28)/14*2+(p%28)/14] += float64(v) / 196
		}
		features = append(features, f[:]...)
		best := 0
		for k := range f {
			if f[k] > f[best] {
				best = k
			}
		}
		for k := range 10 {
			probs = append(probs, map[bool]float64{true: 0.9, false: 0.1 / 9}[k == best])
		}
	}
	return features, probs, nil
}

// scoredConfig scores 20 samples (two batches of 16, 4 sampler steps)
// every 2 steps.
func scoredConfig(t *testing.T, dir string, sets ...string) *configs.Config {
	return smallConfig(t, dir, append([]string{"train.eval_every=2", "train.eval_n=20", "sample.n=16", "sample.steps=4"}, sets...)...)
}

func scoredTrainer(t *testing.T, cfg *configs.Config, resume bool, judged *int) *Trainer {
	t.Helper()
	tr, err := New(family(t, cfg), cfg, digits(40), Options{Resume: resume, Judge: tileJudge{"mnist", judged}, Test: heldOut()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	return tr
}

// heldOut is a test set of 30 blobs other than the training set's
// (digits(40)), so that the floor is not 0.
func heldOut() *data.Dataset {
	ds := digits(70)
	ds.N, ds.Pixels, ds.Labels = 30, ds.Pixels[40*784:], ds.Labels[40:]
	return ds
}

// metricLines are dir's metrics.jsonl, a map per line, without the
// timing, which differs between runs.
func metricLines(t *testing.T, dir string) []map[string]float64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, metricsFile))
	if err != nil {
		t.Fatal(err)
	}
	var lines []map[string]float64
	for line := range strings.Lines(string(b)) {
		var m map[string]float64
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		delete(m, "images_per_s")
		lines = append(lines, m)
	}
	return lines
}

var figureKeys = []string{"fd", "fd_floor", "kid", "kid_se", "confident", "class_entropy", "precision", "recall"}

// With train.eval_every 2, steps 2, 4 and 6 (and only they) have the
// judge's figures in their metrics line, even where train.log_every
// would write none; the samples are scored against the test set and the
// floor against the training set (20 test and 20 training images at the
// first evaluation, 20 samples at each). Scoring leaves training alone: a
// run with it has the
// weights and losses of a run without, and one resumed from step 3 has
// the same lines, figures included, as the uninterrupted one.
func TestScoringOverTraining(t *testing.T) {
	straightDir, judged := t.TempDir(), 0
	straight := scoredTrainer(t, scoredConfig(t, straightDir, "train.steps=6", "train.log_every=3"), false, &judged)
	run(t, straight)
	if judged != 2*20+3*20 {
		t.Errorf("the judge scored %d images, want 2 real sets of 20 once and 3 evaluations of 20 samples", judged)
	}
	lines := metricLines(t, straightDir)
	var steps []int
	for _, l := range lines {
		steps = append(steps, int(l["step"]))
		scored := int(l["step"])%2 == 0
		for _, k := range figureKeys {
			if _, ok := l[k]; ok != scored {
				t.Errorf("step %v: %s present %v, want %v", l["step"], k, ok, scored)
			}
		}
		if scored && !(l["fd"] > 0 && l["fd_floor"] > 0 && l["confident"] > 0) {
			t.Errorf("step %v: fd %v, floor %v, confident %v; want positive figures", l["step"], l["fd"], l["fd_floor"], l["confident"])
		}
	}
	if !slices.Equal(steps, []int{2, 3, 4, 6}) {
		t.Fatalf("metrics lines at steps %v, want 2, 3 (log_every), 4, 6", steps)
	}
	if lines[0]["fd"] == lines[2]["fd"] {
		t.Errorf("fd %v at steps 2 and 4: the weights changed, the figure should have", lines[0]["fd"])
	}

	plainDir := t.TempDir()
	plain := newTrainer(t, smallConfig(t, plainDir, "train.steps=6", "train.log_every=3", "sample.n=16", "sample.steps=4"), false)
	run(t, plain)
	sameState(t, state(t, plain), state(t, straight))
	for i, l := range metricLines(t, plainDir) {
		for k, v := range l {
			if straightVal := lines[[]int{1, 3}[i]][k]; straightVal != v {
				t.Errorf("step %v: %s %v unscored, %v scored", l["step"], k, v, straightVal)
			}
		}
	}

	dir := t.TempDir()
	run(t, scoredTrainer(t, scoredConfig(t, dir, "train.steps=3", "train.log_every=3", "train.ckpt_every=3"), false, &judged))
	resumed := scoredTrainer(t, scoredConfig(t, dir, "train.steps=6", "train.log_every=3", "train.ckpt_every=3"), true, &judged)
	if resumed.Step() != 3 {
		t.Fatalf("resumed at step %d, want 3", resumed.Step())
	}
	run(t, resumed)
	sameState(t, state(t, straight), state(t, resumed))
	if got := metricLines(t, dir); !slices.EqualFunc(got, lines, maps.Equal) {
		t.Fatalf("resumed run's metrics:\n%v\nuninterrupted run's:\n%v", got, lines)
	}
}

// train.eval_n, or a test set, of no more images than the judge has
// features is refused before any step, naming the key.
func TestScoringNeedsMoreImagesThanFeatures(t *testing.T) {
	var n int
	for _, c := range []struct {
		evalN, test int
	}{{4, 30}, {20, 3}} {
		cfg := scoredConfig(t, t.TempDir(), "train.eval_n="+strconv.Itoa(c.evalN))
		test := heldOut()
		test.N = c.test
		_, err := New(family(t, cfg), cfg, digits(40), Options{Judge: tileJudge{"mnist", &n}, Test: test})
		if err == nil || !strings.Contains(err.Error(), "train.eval_n") || !strings.Contains(err.Error(), "judge of 4 features") {
			t.Errorf("eval_n %d, %d test images: err = %v, want one naming train.eval_n and the judge's 4 features", c.evalN, c.test, err)
		}
	}
}

// A run with train.eval_every refuses to start without a judge of its
// data set, in one line naming train.judge and how to get one.
func TestScoringNeedsAJudgeOfTheDataSet(t *testing.T) {
	cfg := scoredConfig(t, t.TempDir(), "train.judge=runs/j")
	var n int
	for _, o := range []Options{{Judge: tileJudge{"mnist", &n}}, {Judge: tileJudge{"fashion", &n}, Test: heldOut()}} {
		_, err := New(family(t, cfg), cfg, digits(40), o)
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "train.") {
			t.Errorf("judge of %s, test set %v: err = %v, want one line naming the key", o.Judge.Dataset(), o.Test != nil, err)
		}
		if o.Test != nil && (!strings.Contains(err.Error(), "train.judge runs/j") || !strings.Contains(err.Error(), "make eval-nets")) {
			t.Errorf("a fashion judge for mnist: err = %v, want it to name train.judge runs/j and make eval-nets", err)
		}
	}
}

// cancelling is a family whose samplers call cancel before each batch, as
// a Ctrl-C during sampling would.
type cancelling struct {
	model.Family
	cancel func()
}

func (f cancelling) NewSampler(w model.Weights, batch int, o model.SampleOptions) (model.Sampler, error) {
	m, err := f.Family.NewSampler(w, batch, o)
	return cancellingSampler{m, f.cancel}, err
}

type cancellingSampler struct {
	model.Sampler
	cancel func()
}

func (m cancellingSampler) SampleAt(first int, x []float32, progress func(int)) error {
	m.cancel()
	return m.Sampler.SampleAt(first, x, progress)
}

// Ctrl-C while samples are drawn for scoring stops between the sampler's
// batches, without the judge: the run writes the step's line without
// figures and a checkpoint of the step, and returns nil.
func TestInterruptWhileScoring(t *testing.T) {
	dir, judged := t.TempDir(), 0
	cfg := scoredConfig(t, dir, "train.steps=100")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tr, err := New(cancelling{family(t, cfg), cancel}, cfg, digits(40), Options{Judge: tileJudge{"mnist", &judged}, Test: heldOut()})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if _, step, err := ckpt.Latest(dir); err != nil || step != 2 {
		t.Fatalf("after Ctrl-C while scoring step 2: latest checkpoint step %d, %v", step, err)
	}
	lines := metricLines(t, dir)
	if _, ok := lines[len(lines)-1]["fd"]; ok || judged != 0 || int(lines[len(lines)-1]["step"]) != 2 {
		t.Fatalf("last line %v, the judge scored %d images; want step 2 without figures, and none judged", lines[len(lines)-1], judged)
	}
}
