package score

import (
	"testing"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/model"
)

// TestODESamplerBatchIndependent samples with sample.sampler ode: an
// image is the same drawn in a batch of two as drawn alone (each takes its
// own RK45 steps from its own prior draw), and the sampler counts its
// network evaluations, two to start and six per step.
func TestODESamplerBatchIndependent(t *testing.T) {
	f, w := smallFamily(t)
	o := model.SampleOptions{Device: "cpu", EMA: true, Sample: configs.Sample{Sampler: "ode", Eps: 1e-3, RTol: 1e-3, ATol: 1e-3, Seed: 4}}
	draw := func(batch, first int) ([]float32, int) {
		s, err := f.NewSampler(w, batch, o)
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
	both, nfe := draw(2, 0)
	if nfe < 8 || (nfe-2)%6 != 0 {
		t.Errorf("%d network evaluations, want 2 + 6 per step", nfe)
	}
	second, _ := draw(1, 1)
	d := len(second)
	for j := range second {
		if second[j] != both[d+j] {
			t.Fatalf("image 1 drawn alone differs from image 1 of a batch at value %d: %v, %v", j, second[j], both[d+j])
		}
	}
}
