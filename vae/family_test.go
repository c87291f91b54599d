package vae

import (
	"math"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/data"
	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/model"
)

var (
	_ model.Family    = (*Family)(nil)
	_ model.Evaluator = (*Family)(nil)
)

// New refuses what configs.Load would (for configs built in code), naming
// the key, and the Bernoulli decoder on colour images.
func TestNewNamesTheBadKey(t *testing.T) {
	for _, c := range []struct {
		edit func(*configs.Config)
		want string
	}{
		{func(c *configs.Config) { c.VAE.Latent = 0 }, "vae.latent = 0: want at least 1"},
		{func(c *configs.Config) { c.VAE.Decoder = "gauss" }, `vae.decoder = "gauss"`},
		{func(c *configs.Config) { c.VAE.IWAEK = 0 }, "vae.iwae_k = 0"},
		{func(c *configs.Config) { c.Data.Name = "cifar10" }, "vae.decoder = bernoulli with data.name = cifar10: want logistic"},
	} {
		cfg, err := configs.Load("mnist_vae.yaml", nil)
		if err != nil {
			t.Fatal(err)
		}
		c.edit(cfg)
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want one containing %q", err, c.want)
		}
	}
	f := newFamily(t, "data.name=cifar10", "vae.decoder=logistic")
	if c, h, w := f.ImageShape(); c != 3 || h != 32 || w != 32 || f.Type() != "vae" {
		t.Errorf("cifar10: %s of %dx%dx%d, want vae of 3x32x32", f.Type(), c, h, w)
	}
}

func TestKLWarmup(t *testing.T) {
	f := newFamily(t, "vae.beta=2", "vae.kl_warmup=100")
	for _, c := range []struct {
		step int
		want float32
	}{{0, 0}, {25, 0.5}, {100, 2}, {1000, 2}} {
		if got := f.klWeight(c.step); got != c.want {
			t.Errorf("step %d: KL weight %v, want %v", c.step, got, c.want)
		}
	}
}

// The training graph binarises its batch afresh at each step: a pixel of
// grey level p in [0, 1] is 1 with frequency p, and two steps draw
// different pixels.
func TestDynamicBinarisation(t *testing.T) {
	f := newFamily(t, "vae.ch=4")
	const batch = 64
	tg, err := f.TrainGraph(batch, 1)
	if err != nil {
		t.Fatal(err)
	}
	var bin *gorgonia.Node
	for _, n := range tg.G.AllNodes() {
		if n.Op() != nil && strings.HasPrefix(n.Op().String(), "Bernoulli") {
			bin = n
		}
	}
	if bin == nil {
		t.Fatal("no Bernoulli node in the training graph")
	}
	plan, err := engine.Compile([]*gorgonia.Node{bin}, engine.NewCPU())
	if err != nil {
		t.Fatal(err)
	}
	d := 28 * 28
	x := make([]float32, batch*d)
	for i := range x {
		x[i] = float32(i%5)/2 - 1 // p = 0, 0.25, 0.5, 0.75, 1
	}
	draw := func(step uint64) []float32 {
		tg.RNG.Step = step
		out := make([]float32, len(x))
		if err := plan.Write(tg.X, x); err != nil {
			t.Fatal(err)
		}
		if err := plan.Run(); err != nil {
			t.Fatal(err)
		}
		if err := plan.Read(bin, out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	a, b := draw(0), draw(1)
	ones, count := make([]float64, 5), make([]float64, 5)
	for i, v := range a {
		if v != 0 && v != 1 {
			t.Fatalf("pixel %d is %v, want 0 or 1", i, v)
		}
		ones[i%5] += float64(v)
		count[i%5]++
	}
	for k := range 5 {
		p, freq := float64(k)/4, ones[k]/count[k]
		if se := math.Sqrt(p * (1 - p) / count[k]); math.Abs(freq-p) > 5*se+1e-12 {
			t.Errorf("grey level p = %v: frequency of ones %v", p, freq)
		}
	}
	if slices.Equal(a, b) {
		t.Error("steps 0 and 1 drew the same binarisation")
	}
}

// The evaluation's binarisation has the same frequencies and depends only
// on the element's index.
func TestEvalBinarisation(t *testing.T) {
	const n = 100000
	pix := make([]uint8, n)
	for i := range pix {
		pix[i] = uint8(i % 256)
	}
	a := make([]float32, n)
	binarize(a, pix, 0)
	var got, want float64
	for i, v := range a {
		got += float64(v)
		want += float64(pix[i]) / 255
	}
	if math.Abs(got-want) > 5*math.Sqrt(n*0.25) {
		t.Errorf("%v ones, want about %v", got, want)
	}
	b := make([]float32, 10)
	binarize(b, pix[37:47], 37)
	if !slices.Equal(b, a[37:47]) {
		t.Errorf("elements 37..46 binarised alone: %v, in the whole: %v", b, a[37:47])
	}
}

// Image i of a sampler is the same in a batch of 4 and a batch of 8 that
// starts elsewhere, and a sampler without the averages it asks for says
// which tensor is missing.
func TestSamplerIsBatchInvariant(t *testing.T) {
	for _, dec := range []string{"bernoulli", "logistic"} {
		f := newFamily(t, "vae.ch=8", "vae.decoder="+dec)
		w := newTrainer(t, f, 2, 5).weights()
		o := model.SampleOptions{Device: "cpu", Sample: configs.Sample{Seed: 9}}
		d := 28 * 28
		sample := func(batch, first int) []float32 {
			s, err := f.NewSampler(w, batch, o)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			x := make([]float32, batch*d)
			if err := s.SampleAt(first, x, nil); err != nil {
				t.Fatal(err)
			}
			for _, v := range x {
				if !(v >= -1 && v <= 1) {
					t.Fatalf("%s: pixel %v outside [-1, 1]", dec, v)
				}
			}
			return x
		}
		small, large := sample(4, 3), sample(8, 1) // images 3..6 and 1..8
		if !slices.Equal(small, large[2*d:6*d]) {
			t.Errorf("%s: images 3..6 differ between a batch of 4 and one of 8", dec)
		}
		if slices.Equal(small[:d], small[d:2*d]) {
			t.Errorf("%s: images 3 and 4 are the same", dec)
		}
		// Averages the checkpoint does not keep (train.ema 0) are its
		// weights; a missing weight is an error naming it.
		o.EMA = true
		if !slices.Equal(sample(4, 3), small) {
			t.Errorf("%s: with no averages kept, EMA sampling differs from the weights'", dec)
		}
		lacking := func(name string) ([]float32, bool) {
			if name == "dec.fc.weight" {
				return nil, false
			}
			return w(name)
		}
		if _, err := f.NewSampler(lacking, 4, o); err == nil || !strings.Contains(err.Error(), "dec.fc.weight") {
			t.Errorf("%s: sampling with a weight the checkpoint lacks: error %v", dec, err)
		}
	}
}

// A few dozen steps on structured data lower the negative ELBO, for both
// decoders; then the test-set bounds are finite, consistent and the
// reconstructions are images.
func TestTrainingLowersTheLoss(t *testing.T) {
	for _, c := range []struct {
		sets    []string
		h, w, c int
		fall    float64 // the least relative fall of the negative ELBO
	}{
		{[]string{"vae.ch=16", "vae.latent=8", "train.lr=2e-3"}, 28, 28, 1, 0.2},
		// The logistic's log-scales start near 0 (a scale of half the
		// data's range) and fall by about lr per step.
		{[]string{"vae.ch=8", "vae.latent=8", "vae.decoder=logistic", "data.name=cifar10", "train.lr=1e-2"}, 32, 32, 3, 0.03},
	} {
		f := newFamily(t, append(c.sets, "train.warmup=0", "train.grad_clip=0", "vae.iwae_k=4")...)
		const batch, steps = 16, 60
		tr := newTrainer(t, f, batch, 1)
		var first, last float64
		for s := range steps {
			x := blobs(batch, c.h, c.w*c.c, uint64(s))
			m := tr.step(t, x)
			if math.IsNaN(m["loss"]) {
				t.Fatalf("%v: step %d: loss NaN", c.sets, s)
			}
			if s < 10 {
				first += m["nelbo"] / 10
			}
			if s >= steps-10 {
				last += m["nelbo"] / 10
			}
		}
		if !(last < (1-c.fall)*first) {
			t.Errorf("%v: negative ELBO %v over the first 10 steps, %v over the last 10: want a fall of %v%%", c.sets, first, last, 100*c.fall)
		}

		d := c.c * c.h * c.w
		const n = 7
		px := blobs(n, c.h, c.w*c.c, 99)
		test := &data.Dataset{Name: "blobs", N: n, C: c.c, H: c.h, W: c.w, Pixels: make([]uint8, n*d)}
		for i, v := range px {
			test.Pixels[i] = uint8(math.Round((float64(v) + 1) * 127.5))
		}
		o := model.SampleOptions{Device: "cpu"}
		r, err := f.Evaluate(tr.weights(), test, o)
		if err != nil {
			t.Fatal(err)
		}
		if !(r["nelbo_nats"] > 0 && r["iwae_nats"] > 0) || math.Abs(r["bits_per_dim"]-r["nelbo_nats"]/(float64(d)*math.Ln2)) > 1e-9 ||
			math.Abs(r["iwae_bits_per_dim"]-r["iwae_nats"]/(float64(d)*math.Ln2)) > 1e-9 {
			t.Errorf("%v: bounds %v", c.sets, r)
		}
		if !(r["nelbo_se_nats"] > 0 && r["nelbo_se_nats"] < r["nelbo_nats"]) || math.Abs(r["bits_per_dim_se"]-r["nelbo_se_nats"]/(float64(d)*math.Ln2)) > 1e-9 {
			t.Errorf("%v: standard errors %v", c.sets, r)
		}
		if math.Abs(r["nelbo_nats"]-last) > 0.5*last || r["iwae_nats"] > r["nelbo_nats"]+1 {
			t.Errorf("%v: test bounds %v against a training negative ELBO of %v", c.sets, r, last)
		}
		again, err := f.Evaluate(tr.weights(), test, o)
		if err != nil || again["iwae_nats"] != r["iwae_nats"] {
			t.Errorf("%v: a second evaluation gave %v (%v), the first %v", c.sets, again, err, r)
		}
		x := make([]float32, 3*d)
		test.Images(x, 0, 3)
		rec, err := f.Reconstruct(tr.weights(), x, 3, o)
		if err != nil {
			t.Fatal(err)
		}
		var errRec, errMean float64 // a reconstruction is nearer its image than the images' mean grey
		for i, v := range rec {
			errRec += math.Abs(float64(v - x[i]))
			errMean += math.Abs(float64(x[i]))
		}
		if !(errRec < errMean) {
			t.Errorf("%v: reconstructions are %v from their images, grey %v", c.sets, errRec, errMean)
		}
	}
}

func TestExperimentFiles(t *testing.T) {
	for _, name := range []string{"mnist_vae.yaml", "fashion_vae.yaml", "cifar10_vae.yaml"} {
		cfg, err := configs.Load(name, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := New(cfg); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
