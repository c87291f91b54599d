package gan

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/model"
)

var _ model.Family = (*Family)(nil)

func newFamily(t testing.TB, sets ...string) *Family {
	t.Helper()
	cfg, err := configs.Load("", append([]string{"model.type=gan"}, sets...))
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// Every experiment file of the family loads and makes a family.
func TestConfigs(t *testing.T) {
	for _, name := range []string{"mnist_dcgan.yaml", "mnist_wgangp.yaml", "cifar10_dcgan.yaml"} {
		cfg, err := configs.Load(name, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		f, err := New(cfg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c, h, w := f.ImageShape(); f.Type() != "gan" || h != w || (c != 1 && c != 3) {
			t.Errorf("%s: type %s, image %dx%dx%d", name, f.Type(), c, h, w)
		}
	}
}

// New checks the config it is given (a Config built in code has not been
// through configs.Load), naming the bad key.
func TestNewNamesTheBadKey(t *testing.T) {
	cases := map[string]func(c *configs.Config){
		"gan.loss":      func(c *configs.Config) { c.GAN.Loss = "hinge" },
		"gan.latent":    func(c *configs.Config) { c.GAN.Latent = 0 },
		"gan.ch":        func(c *configs.Config) { c.GAN.Ch = -1 },
		"gan.n_critic":  func(c *configs.Config) { c.GAN.NCritic = 0 },
		"gan.gp_lambda": func(c *configs.Config) { c.GAN.GPLambda = math.Inf(1) },
		"gan.lr_d":      func(c *configs.Config) { c.GAN.LRD = -0.1 },
		"model.type":    func(c *configs.Config) { c.Model.Type = "unet" },
		"data.name":     func(c *configs.Config) { c.Data.Name = "svhn" },
	}
	for key, change := range cases {
		cfg, err := configs.Load("mnist_wgangp.yaml", nil)
		if err != nil {
			t.Fatal(err)
		}
		change(cfg)
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: error %v, want one naming it", key, err)
		}
	}
}

// The training graph has the data batch, two groups of parameters named
// by their network, the discriminator's n_critic updates on data and the
// generator's update without it, and the generator's BatchNorm statistics
// following the generator's update.
func TestTrainGraphLayout(t *testing.T) {
	for _, c := range []struct {
		data    string
		c, side int
	}{{"mnist", 1, 28}, {"cifar10", 3, 32}} {
		f := newFamily(t, "data.name="+c.data, "gan.ch=8", "gan.latent=16", "gan.n_critic=3", "train.lr=1e-3", "gan.lr_d=4e-4", "train.ema=0.99")
		tg, err := f.TrainGraph(4, 1)
		if err != nil {
			t.Fatal(err)
		}
		if s := tg.X.Shape(); tg.X.Name() != "x" || s[0] != 4 || s[1] != c.c || s[2] != c.side || s[3] != c.side {
			t.Errorf("%s: X %s %v", c.data, tg.X.Name(), s)
		}
		if len(tg.Groups) != 2 || tg.Groups[0].Name != "d" || tg.Groups[1].Name != "g" {
			t.Fatalf("groups %+v", tg.Groups)
		}
		for i, prefix := range []string{"d.", "g."} {
			for _, p := range tg.Groups[i].Params {
				if !strings.HasPrefix(p.Name(), prefix) {
					t.Errorf("group %s has parameter %s", tg.Groups[i].Name, p.Name())
				}
			}
		}
		if o := tg.Groups[0].Optim; o.LR != 4e-4 || o.EMA != 0 {
			t.Errorf("d's optimiser %+v: want lr_d 4e-4 and no EMA", o)
		}
		if o := tg.Groups[1].Optim; o.LR != 1e-3 || o.EMA != 0.99 {
			t.Errorf("g's optimiser %+v: want train.lr 1e-3 and EMA 0.99", o)
		}
		u := tg.Updates
		if len(u) != 2 || u[0].Group != 0 || u[0].Repeat != 3 || !u[0].Data || u[1].Group != 1 || u[1].Data {
			t.Fatalf("updates %+v", u)
		}
		// 2 (mnist) or 3 (cifar) BatchNorm layers, each a mean and a variance.
		if want := 2 * (c.side/16 + 1); len(tg.State) != want {
			t.Errorf("%s: %d state tensors, want %d", c.data, len(tg.State), want)
		}
		for _, s := range tg.State {
			if !strings.HasPrefix(s.Value.Name(), "g.bn") || s.Update != 1 || s.Momentum != 0.1 || !s.Value.Shape().Eq(s.Batch.Shape()) {
				t.Errorf("state %s: update %d, momentum %v, shapes %v %v", s.Value.Name(), s.Update, s.Momentum, s.Value.Shape(), s.Batch.Shape())
			}
		}
		// The generator's plan does not read the data.
		if len(tg.Updates) == 2 {
			tr := newTestTrainer(t, tg)
			if _, ok := tr.plans[1].Slot(tg.X); ok {
				t.Errorf("%s: the generator's update reads x", c.data)
			}
		}
	}
}

// gradients runs the gradients of the updates named by order (indices into
// tg.Updates), each taken with gorgonia.Grad in that order on the same
// graph, and returns their values by update, with x and the RNG fixed.
func gradients(t *testing.T, tg *model.TrainGraph, order []int, x []float32) map[int][][]float32 {
	t.Helper()
	grads := map[int]gorgonia.Nodes{}
	for _, i := range order {
		u := tg.Updates[i]
		g, err := gorgonia.Grad(u.Loss, tg.Groups[u.Group].Params...)
		if err != nil {
			t.Fatalf("update %s: %v", u.Name, err)
		}
		grads[i] = g
	}
	out := map[int][][]float32{}
	for _, i := range order {
		p, err := engine.Compile(append(gorgonia.Nodes{tg.Updates[i].Loss}, grads[i]...), engine.NewCPU())
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := p.Slot(tg.X); ok {
			if err := p.Write(tg.X, x); err != nil {
				t.Fatal(err)
			}
		}
		tg.RNG.Step = 3
		if err := p.Run(); err != nil {
			t.Fatal(err)
		}
		for _, n := range grads[i] {
			v := make([]float32, n.Shape().TotalSize())
			if err := p.Read(n, v); err != nil {
				t.Fatal(err)
			}
			out[i] = append(out[i], v)
		}
	}
	return out
}

// Both gradients taken in one graph, in either order, equal each taken in
// a graph of its own: the second gorgonia.Grad does not reuse what the
// first left on the nodes they share (the critic on generated images).
func TestSharedGraphGradientsMatchSeparateGraphs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, 3*28*28)
	for i := range x {
		x[i] = float32(2*rng.Float64() - 1)
	}
	for _, loss := range []string{NonSaturating, Minimax, WGANGP} {
		f := newFamily(t, "gan.loss="+loss, "gan.ch=4", "gan.latent=8")
		build := func() *model.TrainGraph {
			tg, err := f.TrainGraph(3, 9)
			if err != nil {
				t.Fatal(err)
			}
			return tg
		}
		alone := map[int][][]float32{}
		for i := range 2 {
			alone[i] = gradients(t, build(), []int{i}, x)[i]
		}
		for _, order := range [][]int{{0, 1}, {1, 0}} {
			shared := gradients(t, build(), order, x)
			for i := range 2 {
				for k := range alone[i] {
					if d := maxDiff(shared[i][k], alone[i][k]); d > 1e-6*(1+maxAbs(alone[i][k])) || maxAbs(alone[i][k]) == 0 && k == 0 {
						t.Errorf("%s, order %v: update %d, gradient %d differs by %v (largest %v)", loss, order, i, k, d, maxAbs(alone[i][k]))
					}
				}
			}
		}
	}
}

func maxDiff(a, b []float32) float64 {
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(float64(a[i])-float64(b[i])))
	}
	return m
}

func maxAbs(a []float32) float64 {
	m := 0.0
	for _, v := range a {
		m = math.Max(m, math.Abs(float64(v)))
	}
	return m
}

// weightsOf trains a few steps and returns the weights a checkpoint would
// hold: parameters, their "ema." copies (here the weights themselves
// scaled, so that the sampler's choice shows) and the state.
func weightsOf(t *testing.T, f *Family) model.Weights {
	t.Helper()
	tg, err := f.TrainGraph(8, 2)
	if err != nil {
		t.Fatal(err)
	}
	tr := newTestTrainer(t, tg)
	rng := rand.New(rand.NewPCG(3, 3))
	for range 3 {
		tr.step(t, func(x []float32) {
			for i := range x {
				x[i] = float32(2*rng.Float64() - 1)
			}
		})
	}
	w := map[string][]float32{}
	for _, grp := range tg.Groups {
		for _, p := range grp.Params {
			v := append([]float32(nil), tr.view(t, tr.plans[1], p)...)
			w[p.Name()] = v
			e := make([]float32, len(v))
			for i := range v {
				e[i] = 0.5 * v[i]
			}
			w["ema."+p.Name()] = e
		}
	}
	for _, s := range tg.State {
		w[s.Value.Name()] = append([]float32(nil), tr.view(t, tr.plans[1], s.Value)...)
	}
	return func(name string) ([]float32, bool) { v, ok := w[name]; return v, ok }
}

func sample(t *testing.T, f *Family, w model.Weights, batch, first int, ema bool, seed uint64) []float32 {
	t.Helper()
	s, err := f.NewSampler(w, batch, model.SampleOptions{Device: "cpu", EMA: ema, Sample: configs.Sample{Seed: seed}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, h, wd := f.ImageShape()
	x := make([]float32, batch*c*h*wd)
	steps := 0
	if err := s.SampleAt(first, x, func(int) { steps++ }); err != nil {
		t.Fatal(err)
	}
	if steps != 1 || s.Batch() != batch {
		t.Errorf("progress called %d times, batch %d", steps, s.Batch())
	}
	return x
}

// Image i depends only on the seed and i: the same in batches of
// different sizes and at different positions; it is in [-1, 1]; another
// seed and the raw weights instead of the EMA give other images.
func TestSamplerIsBatchInvariant(t *testing.T) {
	f := newFamily(t, "gan.ch=8", "gan.latent=16")
	w := weightsOf(t, f)
	const size = 28 * 28
	a := sample(t, f, w, 6, 0, true, 1) // images 0..5
	b := sample(t, f, w, 3, 2, true, 1) // images 2..4
	for i := range b {
		if a[2*size+i] != b[i] {
			t.Fatalf("element %d of image %d: %v in a batch of 6, %v in a batch of 3 from image 2", i%size, 2+i/size, a[2*size+i], b[i])
		}
	}
	for i, v := range a {
		if !(v >= -1 && v <= 1) {
			t.Fatalf("element %d is %v, outside [-1, 1]", i, v)
		}
	}
	if d := maxDiff(a[:size], a[size:2*size]); d == 0 {
		t.Error("images 0 and 1 are the same")
	}
	if d := maxDiff(a[:3*size], sample(t, f, w, 3, 0, true, 2)); d == 0 {
		t.Error("another seed gives the same images")
	}
	if d := maxDiff(a[:3*size], sample(t, f, w, 3, 0, false, 1)); d == 0 {
		t.Error("the raw weights give the EMA's images")
	}
	missing := func(name string) ([]float32, bool) {
		if strings.HasSuffix(name, "running_var") {
			return nil, false
		}
		return w(name)
	}
	if _, err := f.NewSampler(missing, 2, model.SampleOptions{Device: "cpu"}); err == nil || !strings.Contains(err.Error(), "running_var") {
		t.Errorf("weights without the running variance: error %v", err)
	}
}

// BenchmarkTrainStep times full training steps (n_critic discriminator
// updates, each on a batch of 64, then one generator update) on MNIST at
// the widths of configs/mnist_dcgan.yaml and mnist_wgangp.yaml.
func BenchmarkTrainStep(b *testing.B) {
	for _, c := range []struct{ name, config string }{{"dcgan", "mnist_dcgan.yaml"}, {"wgangp", "mnist_wgangp.yaml"}} {
		b.Run(c.name, func(b *testing.B) {
			cfg, err := configs.Load(c.config, nil)
			if err != nil {
				b.Fatal(err)
			}
			f, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			const batch = 64
			tg, err := f.TrainGraph(batch, 1)
			if err != nil {
				b.Fatal(err)
			}
			tr := newTestTrainer(b, tg)
			data := func(x []float32) {
				for i := range x {
					x[i] = float32(i%7)/3 - 1
				}
			}
			tr.step(b, data) // the first step starts par's workers
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				tr.step(b, data)
			}
			sec := time.Since(start).Seconds()
			b.ReportMetric(float64(b.N*batch*f.nCritic)/sec, "real-images/s")
			b.ReportMetric(float64(b.N)/sec, "steps/s")
		})
	}
}
