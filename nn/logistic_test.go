package nn

import (
	"math"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func TestDiscLogisticGradients(t *testing.T) {
	s := tensor.Shape{2, 3, 4, 5}
	checkOp(t, []tensor.Shape{s, s, s}, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
		return DiscLogisticNLL(in[0], in[1], in[2])
	})
}

// The 256 bins' probabilities sum to one, so that a sum of -log P is a code
// length; each agrees with sigmoid(a) - sigmoid(b) computed plainly where
// that is accurate, and stays finite where the mass underflows.
func TestDiscLogisticIsADistribution(t *testing.T) {
	for _, c := range []struct{ m, ls float64 }{{0, -1}, {0.3, -4}, {-0.99, -6}, {1.5, 0.5}, {-3, 2}, {0.2, -9}} {
		var total float64
		for k := range 256 {
			x := float64(float32(float64(k)/127.5 - 1)) // as the data loader stores it
			x0 := float64(k)/127.5 - 1                  // the bin centre
			nll, _, _ := discLogistic(x, c.m, c.ls)
			if math.IsNaN(nll) || math.IsInf(nll, 0) || nll < 0 {
				t.Fatalf("m=%v ls=%v k=%d: -log P = %v", c.m, c.ls, k, nll)
			}
			total += math.Exp(-nll)
			s := math.Exp(c.ls)
			cdf := func(v float64) float64 { return 1 / (1 + math.Exp(-(v-c.m)/s)) }
			var p float64
			switch k {
			case 0:
				p = cdf(x0 + 1.0/255)
			case 255:
				p = 1 - cdf(x0-1.0/255)
			default:
				p = cdf(x0+1.0/255) - cdf(x0-1.0/255)
			}
			if p > 1e-6 {
				if d := math.Abs(-math.Log(p) - nll); d > 1e-6*max(1, nll) {
					t.Fatalf("m=%v ls=%v k=%d: -log P = %v, plain float64 %v", c.m, c.ls, k, nll, -math.Log(p))
				}
			}
		}
		if math.Abs(total-1) > 1e-9 {
			t.Errorf("m=%v ls=%v: the bins' probabilities sum to %v", c.m, c.ls, total)
		}
	}
	// A bin 40 scales from a tiny scale's mean: mass e^-40-ish, not 0.
	if nll, _, _ := discLogistic(0.5, 0, math.Log(0.01)); !(nll > 30 && nll < 60) {
		t.Errorf("a far inner bin: -log P = %v, want a finite large value", nll)
	}
}
