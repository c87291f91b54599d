package score

import (
	"math"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/data"
	"github.com/scoregen/scoregen/model"
	"github.com/scoregen/scoregen/sde"
)

// draw samples images first to first+batch-1 with the sampler settings c
// and returns them with the network evaluations counted.
func draw(t *testing.T, f *Family, w model.Weights, c configs.Sample, batch, first int) ([]float32, int) {
	t.Helper()
	s, err := f.NewSampler(w, batch, model.SampleOptions{Device: "cpu", EMA: true, Sample: c})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := s.(*ScoreModel)
	x := make([]float32, batch*m.Dim)
	if err := m.SampleAt(first, x, nil); err != nil {
		t.Fatal(err)
	}
	return x, m.Evaluations()
}

// TestSamplersBatchIndependent runs every sampler but pc (whose corrector
// averages over the batch) through SampleAt: an image is the same drawn in
// a batch of two as drawn alone, within [-1, 1], and the network
// evaluations are counted (ode's two to start and six per RK45 step).
func TestSamplersBatchIndependent(t *testing.T) {
	for _, sdeType := range []string{"vp", "ve"} {
		f, w := smallFamily(t, "sde.type="+sdeType)
		for sampler, sdes := range configs.Samplers {
			if sampler == "pc" || !slices.Contains(sdes, sdeType) {
				continue
			}
			c := f.cfg.Sample
			c.Sampler, c.Steps, c.LangevinSteps, c.RTol, c.ATol, c.Eta, c.Seed = sampler, 3, 2, 1e-3, 1e-3, 0.5, 4
			both, nfe := draw(t, f, w, c, 2, 0)
			want := map[string]int{"em": 3, "ode-euler": 3, "heun": 6, "ancestral": 3, "ddim": 3, "annealed-langevin": 7}[sampler]
			if sampler == "ode" {
				if nfe < 8 || (nfe-2)%6 != 0 {
					t.Errorf("%s %s: %d network evaluations, want 2 + 6 per step", sdeType, sampler, nfe)
				}
			} else if nfe != want {
				t.Errorf("%s %s: %d network evaluations, want %d", sdeType, sampler, nfe, want)
			}
			second, _ := draw(t, f, w, c, 1, 1)
			d := len(second)
			for j := range second {
				if second[j] != both[d+j] {
					t.Fatalf("%s %s: image 1 drawn alone differs from image 1 of a batch at value %d: %v, %v", sdeType, sampler, j, second[j], both[d+j])
				}
			}
			for _, v := range both {
				if math.IsNaN(float64(v)) || v < -1 || v > 1 {
					t.Fatalf("%s %s: sample value %v", sdeType, sampler, v)
				}
			}
		}
	}
}

// TestFlowObjective checks model.objective flow: the training step draws
// flow matching's batch (sde.FlowPerturb's x_t, t and target velocity),
// and each flow sampler draws an image the same alone as in a batch, with
// its count of network evaluations; what is built for score networks only
// is refused.
func TestFlowObjective(t *testing.T) {
	f, w := smallFamily(t, "model.objective=flow", "sample.sampler=heun")
	tg, err := f.TrainGraph(2, 3)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := tg.Prepare.(*FlowPerturb)
	if !ok {
		t.Fatalf("the flow objective prepares with %T", tg.Prepare)
	}
	const d = 28 * 28
	x0 := make([]float32, 2*d)
	for j := range x0 {
		x0[j] = float32(math.Cos(float64(j)))
	}
	inputs := map[*gorgonia.Node][]float32{p.XT: make([]float32, 2*d), p.Target: make([]float32, 2*d), p.T: make([]float32, 2)}
	p.PrepareHost(x0, 5, func(n *gorgonia.Node) []float32 { return inputs[n] })
	xt, target, tt := make([]float32, 2*d), make([]float32, 2*d), make([]float32, 2)
	sde.FlowPerturb(x0, xt, target, tt, 2, 3, 5, f.cfg.SDE.Eps)
	if !slices.Equal(inputs[p.XT], xt) || !slices.Equal(inputs[p.Target], target) || !slices.Equal(inputs[p.T], tt) {
		t.Error("the training step's inputs are not sde.FlowPerturb's")
	}
	for _, sampler := range configs.FlowSamplers {
		c := f.cfg.Sample
		c.Sampler, c.Steps, c.RTol, c.ATol = sampler, 3, 1e-3, 1e-3
		both, nfe := draw(t, f, w, c, 2, 0)
		if want := map[string]int{"ode-euler": 3, "heun": 5}[sampler]; sampler != "ode" && nfe != want {
			t.Errorf("flow %s: %d network evaluations, want %d", sampler, nfe, want)
		}
		second, _ := draw(t, f, w, c, 1, 1)
		if !slices.Equal(second, both[d:]) {
			t.Errorf("flow %s: image 1 drawn alone differs from image 1 of a batch", sampler)
		}
	}
	test := &data.Dataset{Name: "test", C: 1, H: 28, W: 28, N: 1, Pixels: make([]byte, d)}
	if _, err := f.Likelihood(w, test, model.SampleOptions{Device: "cpu"}); err == nil || !strings.Contains(err.Error(), "flow") {
		t.Errorf("the likelihood of a flow model: %v", err)
	}
}
