package score

import (
	"math"
	"slices"
	"testing"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/model"
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
