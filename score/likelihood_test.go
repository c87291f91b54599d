package score

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/data"
	"github.com/scoregen/scoregen/model"
	"github.com/scoregen/scoregen/sde"
	"github.com/scoregen/scoregen/unet"
)

// perturb is how far smallFamily moves each weight from the builder's.
var perturb = 0.05

// smallFamily is mnist_tiny shrunk so that the network is quick (and
// changed by the --set overrides sets), with the builder's initial weights
// as a checkpoint's (and as their own EMA), each moved by up to perturb:
// the output layer starts at zero, which would leave the score nearly
// constant in x.
func smallFamily(t *testing.T, sets ...string) (*Family, model.Weights) {
	t.Helper()
	cfg, err := configs.Load("mnist_tiny.yaml", append([]string{"model.ch=8", "model.mult=[1, 2]"}, sets...))
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	net, err := unet.Build(gorgonia.NewGraph(), f.Net, 1, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	w := map[string][]float32{}
	for _, p := range net.Params {
		v := append([]float32(nil), p.Value().Data().([]float32)...)
		for i := range v {
			v[i] += float32(perturb * math.Sin(float64(7*i+len(v))))
		}
		w[p.Name()], w["ema."+p.Name()] = v, v
	}
	return f, func(name string) ([]float32, bool) { v, ok := w[name]; return v, ok }
}

// TestScoreDivFiniteDifferences checks the network's Hutchinson quadratic
// form probe^T (ds/dx) probe, from its vector-Jacobian product, against
// central differences of the score along the probe, computed by the plain
// score model (a separate plan, forward only).
func TestScoreDivFiniteDifferences(t *testing.T) {
	f, w := smallFamily(t)
	const batch = 2
	o := model.SampleOptions{Device: "cpu", EMA: true}
	m, err := f.newDivergence(w, batch, o)
	if err != nil {
		t.Fatal(err)
	}
	defer m.plans.Close()
	plain, err := NewScoreModel(f.Net, f.SDE, batch, "cpu", configs.GPU{})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	weights := make([][]float32, len(plain.Params()))
	for i, p := range plain.Params() {
		weights[i], _ = w(p.Name())
	}
	if err := plain.SetWeights(weights); err != nil {
		t.Fatal(err)
	}
	d := m.dim
	rng := rand.New(rand.NewPCG(5, 6))
	x, probe := make([]float32, batch*d), make([]float32, batch*d)
	for j := range x {
		x[j] = float32(2*rng.Float64() - 1)
	}
	if err := sde.Probes(probe, d, sde.Gaussian, 1, 0); err != nil {
		t.Fatal(err)
	}
	tt := []float32{0.3, 0.8}
	score, quad := make([]float32, len(x)), make([]float64, batch)
	if err := m.scoreDiv(x, tt, probe, score, quad); err != nil {
		t.Fatal(err)
	}
	ref := make([]float32, len(x))
	if err := plain.Score(x, tt, ref); err != nil {
		t.Fatal(err)
	}
	for j := range ref {
		if math.Abs(float64(score[j]-ref[j])) > 1e-5*(1+math.Abs(float64(ref[j]))) {
			t.Fatalf("score[%d] = %v, the forward plan's %v", j, score[j], ref[j])
		}
	}
	const h = 1e-2
	plus, minus := make([]float32, len(x)), make([]float32, len(x))
	for sign, out := range map[float32][]float32{1: plus, -1: minus} {
		xs := make([]float32, len(x))
		for j := range x {
			xs[j] = x[j] + sign*h*probe[j]
		}
		if err := plain.Score(xs, tt, out); err != nil {
			t.Fatal(err)
		}
	}
	for i := range batch {
		var fd float64
		for j := i * d; j < (i+1)*d; j++ {
			fd += float64(probe[j]) * float64(plus[j]-minus[j]) / (2 * h)
		}
		if math.Abs(quad[i]-fd) > 2e-3*math.Abs(fd) {
			t.Errorf("sample %d: probe^T (ds/dx) probe = %v, central differences %v", i, quad[i], fd)
		}
	}
}

// TestLikelihoodBatchIndependent checks Likelihood's figures on three images,
// and that each image's bits/dim is the same alone as in a batch: it takes
// its own ODE steps with its own dequantisation and probe, and the plan is
// batch-invariant.
func TestLikelihoodBatchIndependent(t *testing.T) {
	f, w := smallFamily(t)
	o := model.SampleOptions{Device: "cpu", EMA: true, Sample: configs.Sample{RTol: 1e-3, ATol: 1e-3}}
	const n, d = 3, 28 * 28
	pixels := make([]byte, n*d)
	rng := rand.New(rand.NewPCG(7, 8))
	for j := range pixels {
		pixels[j] = byte(rng.IntN(256))
	}
	test := &data.Dataset{Name: "test", C: 1, H: 28, W: 28, N: n, Pixels: pixels}
	all, err := f.Likelihood(w, test, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"bits_per_dim", "bits_per_dim_se", "nll_nats", "evaluations_per_batch", "seconds_per_image"} {
		if v, ok := all[k]; !ok || math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
			t.Errorf("figure %s = %v (present %v), want a positive number", k, v, ok)
		}
	}
	if got, want := all["nll_nats"], all["bits_per_dim"]*d*math.Ln2; math.Abs(got-want) > 1e-9*want {
		t.Errorf("nll_nats %v, bits/dim %v times D ln 2 is %v", got, all["bits_per_dim"], want)
	}
	together, _, _, err := f.likelihoods(w, test, 0, n, o)
	if err != nil {
		t.Fatal(err)
	}
	// Image 1's bits/dim is -log p / (D ln 2) + 7 of sde.Likelihood on its
	// dequantised pixels with its probe.
	m, err := f.newDivergence(w, 1, o)
	if err != nil {
		t.Fatal(err)
	}
	defer m.plans.Close()
	x := make([]float32, d)
	sde.Dequantize(x, pixels[d:2*d], LikelihoodSeed, d)
	logp, _, err := sde.Likelihood(f.SDE, m.scoreDiv, x, 1, f.cfg.SDE.Eps, sde.Tolerances{RTol: 1e-3, ATol: 1e-3}, sde.Rademacher, LikelihoodSeed, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := -logp[0]/(d*math.Ln2) + 7; together[1] != want {
		t.Errorf("image 1: %v bits/dim, from its log-density %v", together[1], want)
	}
	for i := range n {
		alone, _, _, err := f.likelihoods(w, test, i, i+1, o)
		if err != nil {
			t.Fatal(err)
		}
		if alone[0] != together[i] {
			t.Errorf("image %d: %v bits/dim alone, %v with the others", i, alone[0], together[i])
		}
	}
}
