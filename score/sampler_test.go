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
	for _, sdeType := range []string{"vp", "ve", "ddpm"} { // ancestral is for all three
		f, w := smallFamily(t, "sde.type="+sdeType, "sample.sampler=ancestral")
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
		if want := map[string]int{"ode-euler": 3, "heun": 6}[sampler]; sampler != "ode" && nfe != want {
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

// TestClassConditional checks model.num_classes: the training graph reads
// the labels and drops about p_uncond of them (keyed by the step), the
// label changes the samples, and classifier-free guidance is linear in w,
// (1 + w) s(x, t, class) - w s(x, t), at two network evaluations a step.
func TestClassConditional(t *testing.T) {
	f, w := smallFamily(t, "model.num_classes=10", "model.p_uncond=0.25")
	tg, err := f.TrainGraph(64, 3)
	if err != nil {
		t.Fatal(err)
	}
	if tg.Labels == nil || tg.Labels.Shape()[1] != 10 {
		t.Fatalf("the training graph's labels: %v", tg.Labels)
	}
	p := tg.Prepare.(*Perturb)
	const d = 28 * 28
	inputs := map[*gorgonia.Node][]float32{p.XT: make([]float32, 64*d), p.Z: make([]float32, 64*d), p.T: make([]float32, 64),
		p.Keep: make([]float32, 64), p.Null: make([]float32, 64)}
	dropped := 0
	for key := range uint64(50) {
		p.PrepareHost(make([]float32, 64*d), key, func(n *gorgonia.Node) []float32 { return inputs[n] })
		for i := range 64 {
			if inputs[p.Keep][i]+inputs[p.Null][i] != 1 {
				t.Fatalf("keep %v and null %v", inputs[p.Keep][i], inputs[p.Null][i])
			}
			dropped += int(inputs[p.Null][i])
		}
	}
	if share := float64(dropped) / (50 * 64); math.Abs(share-0.25) > 4*math.Sqrt(0.25*0.75/(50*64)) {
		t.Errorf("%.3f of the labels dropped, want 0.25", share)
	}
	c := f.cfg.Sample
	c.Sampler, c.Steps, c.Seed, c.N = "em", 3, 2, 2
	sample := func(class int, guidance float64) ([]float32, int) {
		c.Class, c.Guidance = class, guidance
		return draw(t, f, w, c, 2, 0)
	}
	a, nfe := sample(0, 0)
	b, _ := sample(1, 0)
	if nfe != 3 || slices.Equal(a, b) {
		t.Errorf("classes 0 and 1 give the same samples (or %d evaluations for 3 steps)", nfe)
	}
	// The guided score is linear in w: s_w = s_0 + w (s_0 - s_uncond), so
	// s_3 - s_0 = 3 (s_1 - s_0).
	score := func(guidance float64, unconditional bool) ([]float32, int) {
		c.Class, c.Guidance = 4, guidance
		s, err := f.NewSampler(w, 2, model.SampleOptions{Device: "cpu", EMA: true, Sample: c})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		m := s.(*ScoreModel)
		m.Unconditional = unconditional
		if err := m.setLabels(0); err != nil {
			t.Fatal(err)
		}
		x, out := make([]float32, 2*d), make([]float32, 2*d)
		for j := range x {
			x[j] = float32(math.Sin(float64(j)))
		}
		if err := m.Score(x, []float32{0.3, 0.6}, out); err != nil {
			t.Fatal(err)
		}
		return out, m.Evaluations()
	}
	s0, _ := score(0, false)
	s1, nfe := score(1, false)
	s3, _ := score(3, false)
	// The second pass is the "no label" one: s_uncond = 2 s_0 - s_1.
	su, _ := score(0, true)
	for j := range su {
		if want := 2*float64(s0[j]) - float64(s1[j]); math.Abs(float64(su[j])-want) > 1e-4*(1+math.Abs(want)) {
			t.Fatalf("value %d: the unconditional score %v, the guided pass's %v", j, su[j], want)
		}
	}
	if nfe != 2 {
		t.Errorf("a guided score took %d network evaluations, want 2", nfe)
	}
	if slices.Equal(s0, s1) {
		t.Error("guidance does not change the score")
	}
	for j := range s0 {
		want := float64(s0[j]) + 3*float64(s1[j]-s0[j])
		if math.Abs(float64(s3[j])-want) > 1e-4*(1+math.Abs(want)) {
			t.Fatalf("value %d: guided by 3 %v, want %v from w = 0 and 1", j, s3[j], want)
		}
	}
}
