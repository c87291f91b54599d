package train

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scoregen/scoregen/ckpt"
	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/data"
	"github.com/scoregen/scoregen/model"
	"github.com/scoregen/scoregen/models"
)

// smallConfig is mnist_tiny shrunk so that a step takes milliseconds, with
// dropout on so that its masks are part of what must resume exactly, in
// FP32 (the GPU tests compare against it; BF16 has its own test), and
// without mnist_tiny's cooldown, which a run resumed with a longer
// train.steps moves (the resume tests stop runs that way; cmd/train's
// fault test resumes with the cooldown on).
func smallConfig(t *testing.T, outDir string, sets ...string) *configs.Config {
	t.Helper()
	cfg, err := configs.Load("mnist_tiny.yaml", append([]string{
		"model.ch=8", "model.mult=[1, 2]", "model.dropout=0.1", "data.batch_size=4", "precision=fp32", "train.cooldown=0",
		"train.warmup=2", "train.sample_every=0", "train.log_every=1", "train.out_dir=" + outDir,
	}, sets...))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// digits is a small data set of 28x28 blobs: enough structure to learn,
// labelled by their radius (0 to 3), so that a classifier's labels vary.
func digits(n int) *data.Dataset {
	rng := rand.New(rand.NewPCG(3, 3))
	ds := &data.Dataset{Name: "mnist", N: n, C: 1, H: 28, W: 28, Pixels: make([]uint8, n*28*28), Labels: make([]uint8, n)}
	for i := range n {
		cx, cy, r := 8+rng.IntN(12), 8+rng.IntN(12), 3+rng.IntN(4)
		ds.Labels[i] = uint8(r - 3)
		for y := range 28 {
			for x := range 28 {
				if (x-cx)*(x-cx)+(y-cy)*(y-cy) <= r*r {
					ds.Pixels[i*784+y*28+x] = 255
				}
			}
		}
	}
	return ds
}

// family is the model family cfg asks for.
func family(t *testing.T, cfg *configs.Config) model.Family {
	t.Helper()
	f, err := models.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func newTrainer(t *testing.T, cfg *configs.Config, resume bool) *Trainer {
	t.Helper()
	tr, err := New(family(t, cfg), cfg, digits(40), Options{Resume: resume})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	return tr
}

func sameBits(t *testing.T, what string, a, b [][]float32) {
	t.Helper()
	for i := range a {
		for j := range a[i] {
			if math.Float32bits(a[i][j]) != math.Float32bits(b[i][j]) {
				t.Fatalf("%s: tensor %d element %d: %v vs %v", what, i, j, a[i][j], b[i][j])
			}
		}
	}
}

func state(t *testing.T, tr *Trainer) *runState {
	t.Helper()
	s, err := tr.dev.state()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// experiments are a small config of each family (and each GAN loss), for
// the tests that every family must pass: extra settings, then the
// caller's.
var experiments = []struct {
	name, file string
	sets       []string
}{
	{"unet", "mnist_tiny.yaml", nil},
	{"flow", "mnist_tiny.yaml", []string{"model.objective=flow", "sample.sampler=heun"}},
	// Class-conditional: the dropped labels are drawn from the step (on
	// cuda by the label drop kernel); digits has four classes.
	{"classes", "mnist_tiny.yaml", []string{"model.num_classes=4", "model.p_uncond=0.25"}},
	// K fixed so that the runs of 6 and 12 steps share N(k) and mu(k).
	{"consistency", "mnist_tiny.yaml", []string{"model.objective=consistency", "sample.sampler=consistency", "sample.steps=2", "consistency.total_steps=12", "consistency.s1=10"}},
	// Improved: N(k) doubles every 3 steps (K' = floor(12 / (log2 5 + 1)) =
	// floor(3.61)): 3, 5, 9, then 11 points from step 9.
	{"ict", "mnist_tiny.yaml", []string{"model.objective=consistency", "sample.sampler=consistency", "sample.steps=2", "consistency.total_steps=12",
		"consistency.improved=true", "consistency.s0=2", "consistency.s1=10"}},
	{"vae", "mnist_vae.yaml", []string{"vae.ch=4", "vae.latent=4", "vae.kl_warmup=5"}},
	{"dcgan", "mnist_dcgan.yaml", []string{"gan.ch=4", "gan.latent=8"}},
	{"minimax", "mnist_dcgan.yaml", []string{"gan.ch=4", "gan.latent=8", "gan.loss=minimax"}},
	{"wgangp", "mnist_wgangp.yaml", []string{"gan.ch=4", "gan.latent=8", "gan.n_critic=2"}},
	{"classifier", "mnist_classifier.yaml", []string{"classifier.ch=4", "classifier.features=8"}},
}

// experimentConfig is experiment e shrunk so that a step takes
// milliseconds, writing into outDir.
func experimentConfig(t *testing.T, file string, outDir string, sets ...string) *configs.Config {
	t.Helper()
	if file == "mnist_tiny.yaml" {
		return smallConfig(t, outDir, sets...)
	}
	cfg, err := configs.Load(file, append([]string{"data.batch_size=4", "train.warmup=2", "train.sample_every=0",
		"train.log_every=1", "train.out_dir=" + outDir}, sets...))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// A run stopped at step 6 and resumed to 12 ends with the same weights,
// EMA, Adam moments and state tensors, bit for bit, as a run straight to
// 12, for every family.
func TestResumeIsBitExact(t *testing.T) {
	for _, e := range experiments {
		t.Run(e.name, func(t *testing.T) {
			cfg := func(dir string, sets ...string) *configs.Config {
				return experimentConfig(t, e.file, dir, append(slices.Clone(e.sets), sets...)...)
			}
			straight := newTrainer(t, cfg(t.TempDir(), "train.steps=12", "train.ckpt_every=100"), false)
			if err := straight.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			first := newTrainer(t, cfg(dir, "train.steps=6", "train.ckpt_every=6"), false)
			if err := first.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			resumed := newTrainer(t, cfg(dir, "train.steps=12", "train.ckpt_every=6"), true)
			if resumed.Step() != 6 {
				t.Fatalf("resumed at step %d, want 6", resumed.Step())
			}
			if err := resumed.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			s1, s2 := state(t, straight), state(t, resumed)
			sameState(t, s1, s2)
			// And the weights did change: the comparison is not of two
			// initial states.
			fresh := state(t, newTrainer(t, cfg(t.TempDir()), false))
			changed := false
			for g := range fresh.Groups {
				for i, p := range fresh.Groups[g].Params {
					for j := range p {
						changed = changed || p[j] != s1.Groups[g].Params[i][j]
					}
				}
			}
			if !changed {
				t.Fatal("12 steps left every weight unchanged")
			}
		})
	}
}

func TestLossFalls(t *testing.T) {
	tr := newTrainer(t, smallConfig(t, t.TempDir(), "train.lr=2e-3", "model.dropout=0"), false)
	var first, last float64
	const steps, window = 150, 30
	for i := range steps {
		st, err := tr.TrainStep()
		if err != nil {
			t.Fatal(err)
		}
		if i < window {
			first += st.Loss() / window
		}
		if i >= steps-window {
			last += st.Loss() / window
		}
	}
	if !(last < 0.7*first) {
		t.Fatalf("mean loss over the first %d steps %.4f, over the last %.4f: not learning", window, first, last)
	}
}

// train.cooldown brings the learning rate each step uses linearly down to
// 0 at train.steps, after the warm-up's rise.
func TestCooldownEndsAtZero(t *testing.T) {
	tr := newTrainer(t, smallConfig(t, t.TempDir(), "train.steps=6", "train.warmup=2", "train.cooldown=3"), false)
	lr := tr.cfg.Train.LR
	for _, want := range []float64{lr / 2, lr, lr, 2 * lr / 3, lr / 3, 0} {
		st, err := tr.TrainStep()
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Values["lr"]; math.Abs(got-want) > 1e-15 {
			t.Errorf("step %d: lr %g, want %g", st.Step, got, want)
		}
	}
}

// A loss that turns NaN stops the run with an error naming the step, and
// the last good checkpoint stays.
func TestDivergenceStopsAndKeepsTheCheckpoint(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig(t, dir, "train.steps=2", "train.ckpt_every=1")
	tr := newTrainer(t, cfg, false)
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	state(t, tr).Groups[0].Params[0][0] = float32(math.NaN()) // a view of the CPU step's memory
	cfg.Train.Steps = 4
	err := tr.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "step 3") {
		t.Fatalf("err = %v, want one naming step 3", err)
	}
	path, step, err := ckpt.Latest(dir)
	if err != nil || step != 2 {
		t.Fatalf("latest checkpoint %s at step %d (%v), want step 2", path, step, err)
	}
	if _, err := ckpt.Open(path); err != nil {
		t.Fatal(err)
	}
}

// Ctrl-C (a cancelled context) writes a checkpoint and returns nil.
func TestInterruptWritesACheckpoint(t *testing.T) {
	dir := t.TempDir()
	tr := newTrainer(t, smallConfig(t, dir, "train.steps=100", "train.ckpt_every=100"), false)
	if _, err := tr.TrainStep(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tr.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if _, step, err := ckpt.Latest(dir); err != nil || step != 1 {
		t.Fatalf("after Ctrl-C at step 1: latest checkpoint step %d, %v", step, err)
	}
}

func TestForeignCheckpointIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.safetensors")
	if err := ckpt.Save(path, []ckpt.Tensor{{Name: "w", Shape: []int{1}, Data: []float32{1}}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ckpt.Open(path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "not a scoregen checkpoint") {
		t.Fatalf("err = %v", err)
	}
	if _, err := ckpt.Open(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("loading a missing checkpoint succeeded")
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ckpt.Open(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("garbage file: err = %v", err)
	}
}

// train.sample_every writes a grid of the EMA model's samples during the run.
func TestSampleGridsDuringTraining(t *testing.T) {
	dir := t.TempDir()
	tr := newTrainer(t, smallConfig(t, dir, "train.steps=4", "train.sample_every=2", "sample.n=4", "sample.steps=3"), false)
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, step := range []string{"00000002", "00000004"} {
		if _, err := os.Stat(filepath.Join(dir, "samples_"+step+".png")); err != nil {
			t.Errorf("no grid for step %s: %v", step, err)
		}
	}
	lines, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	if err != nil || strings.Count(string(lines), "\n") != 4 || !strings.Contains(string(lines), `"grad_norm"`) {
		t.Fatalf("metrics.jsonl: %q, %v; want 4 lines with the step's statistics", lines, err)
	}
}

// A family that trains on labels refuses, naming the data set, one
// without them or with a label past its classes.
func TestLabelsAreChecked(t *testing.T) {
	cfg := experimentConfig(t, "mnist_classifier.yaml", t.TempDir(), "classifier.ch=4", "classifier.features=8")
	none, high := digits(8), digits(8)
	none.Labels = nil
	high.Labels[5] = 10
	for _, c := range []struct {
		ds   *data.Dataset
		want string
	}{
		{none, "data set mnist has 0 labels for 8 images"},
		{high, "data set mnist: image 5 has label 10, the classifier model has 10 classes"},
	} {
		_, err := New(family(t, cfg), cfg, c.ds, Options{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("err = %v, want %q", err, c.want)
		}
	}
}

// Consistency training's target network starts as the weights and after
// each step k follows them, theta- = mu(k) theta- + (1 - mu(k)) theta with
// the weights after the step's update, in float32 as the trainer's
// follow; a checkpoint keeps it under target.* (TestResumeIsBitExact's
// consistency experiment resumes it bit for bit); the trained model
// samples.
func TestConsistencyTargetFollows(t *testing.T) {
	cfg := smallConfig(t, t.TempDir(), "model.objective=consistency", "sample.sampler=consistency", "sample.steps=1", "train.steps=20")
	tr := newTrainer(t, cfg, false)
	clone := func(v [][]float32) [][]float32 {
		out := make([][]float32, len(v))
		for i := range v {
			out[i] = slices.Clone(v[i])
		}
		return out
	}
	st := state(t, tr)
	sameBits(t, "the target at step 0", st.Groups[0].Params, st.State)
	for k := range 3 {
		before := clone(state(t, tr).State)
		if _, err := tr.TrainStep(); err != nil {
			t.Fatal(err)
		}
		st := state(t, tr)
		c := cfg.Consistency // s0 2, s1 150, mu0 0.9, K = train.steps 20
		s0, s1 := float64(c.S0), float64(c.S1)
		n := math.Ceil(math.Sqrt(float64(k)/float64(c.TotalSteps)*((s1+1)*(s1+1)-s0*s0)+s0*s0)-1) + 1
		mu := math.Exp(s0 * math.Log(c.Mu0) / n)
		for i, theta := range st.Groups[0].Params {
			for j := range theta {
				want := mu*float64(before[i][j]) + (1-mu)*float64(theta[j])
				if d := math.Abs(float64(st.State[i][j]) - want); d > 1e-6*(1+math.Abs(want)) {
					t.Fatalf("step %d: target tensor %d element %d is %v, want mu(k) %v of %v and the rest of %v: %v",
						k, i, j, st.State[i][j], mu, before[i][j], theta[j], want)
				}
			}
		}
	}
	w, err := tr.Weights()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := w("target.conv_in.weight"); !ok {
		t.Error("the checkpointed weights have no target.conv_in.weight")
	}
	// The trained weights' EMA samples in one and two steps, images of the
	// data's shape in [-1, 1].
	for _, steps := range []int{1, 2} {
		sc := cfg.Sample
		sc.Steps = steps
		m, err := tr.family.NewSampler(w, 3, model.SampleOptions{Device: "cpu", EMA: true, Sample: sc})
		if err != nil {
			t.Fatal(err)
		}
		x := make([]float32, 3*28*28)
		err = m.SampleAt(0, x, nil)
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		if m.Batch() != 3 || slices.ContainsFunc(x, func(v float32) bool { return !(v >= -1 && v <= 1) }) || slices.Min(x) == slices.Max(x) {
			t.Errorf("%d steps: a batch of %d, values from %v to %v", steps, m.Batch(), slices.Min(x), slices.Max(x))
		}
	}
}

// Consistency training on a data set of one image has a known answer: the
// ODE carries every point to that image, so f(x, t) is the image for all
// x and t. With N(k) from 2 to 3 points the pairs join T (and a middle
// time) to eps, where the target is the image itself; 150 steps of the
// tiny network bring one- and two-step samples to within 0.4 RMS of it
// (an all-zero image is 1 away).
func TestConsistencyLearnsOneImage(t *testing.T) {
	ds := digits(1)
	img := ds.Pixels
	ds.N, ds.Labels = 16, make([]uint8, 16)
	for range 15 {
		ds.Pixels = append(ds.Pixels, img...)
	}
	const steps = 150
	cfg := smallConfig(t, t.TempDir(), "model.objective=consistency", "sample.sampler=consistency", "consistency.s1=2",
		"train.steps=150", "model.dropout=0", "train.lr=2e-3", "train.warmup=10")
	tr, err := New(family(t, cfg), cfg, ds, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for range steps {
		if _, err := tr.TrainStep(); err != nil {
			t.Fatal(err)
		}
	}
	w, err := tr.Weights()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 2} {
		sc := cfg.Sample
		sc.Steps = n
		m, err := tr.family.NewSampler(w, 4, model.SampleOptions{Device: "cpu", Sample: sc}) // the raw weights: the EMA has barely moved
		if err != nil {
			t.Fatal(err)
		}
		x := make([]float32, 4*784)
		err = m.SampleAt(0, x, nil)
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		var sq float64
		for j, v := range x {
			e := float64(v) - (float64(img[j%784])/127.5 - 1)
			sq += e * e
		}
		rms := math.Sqrt(sq / float64(len(x)))
		t.Logf("%d steps: %.3f RMS from the image", n, rms)
		if !(rms < 0.4) {
			t.Errorf("%d steps: samples %.3f RMS from the one image, want < 0.4", n, rms)
		}
	}
}
