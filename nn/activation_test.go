package nn

import (
	"math"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func TestActivationsGradient(t *testing.T) {
	for _, act := range []Act{SiLU, ReLU, LeakyReLU, Sigmoid, Tanh} {
		t.Run(act.String(), func(t *testing.T) {
			checkOp(t, []tensor.Shape{{2, 3, 5, 7}}, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
				return Activate(in[0], act, 0.2)
			})
		})
	}
}

// TestActivationsAgainstClosedForm compares each activation with its
// textbook formula evaluated with the math package.
func TestActivationsAgainstClosedForm(t *testing.T) {
	sig := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	want := map[Act]func(float64) float64{
		SiLU:      func(x float64) float64 { return x * sig(x) },
		ReLU:      func(x float64) float64 { return math.Max(x, 0) },
		LeakyReLU: func(x float64) float64 { return math.Max(x, 0) + 0.2*math.Min(x, 0) },
		Sigmoid:   sig,
		Tanh:      math.Tanh,
	}
	for act, f := range want {
		for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
			tg := buildTest(t, dt, 3, []tensor.Shape{{4, 100}}, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
				return Activate(in[0], act, 0.2)
			})
			tg.run(t)
			x := f64s(t, tg.in[0].Value())
			ref := make([]float64, len(x))
			for i := range x {
				ref[i] = f(x[i])
			}
			assertClose(t, act.String()+" "+dt.String(), f64s(t, tg.out.Value()), ref, 2e-7)
		}
	}
}

func TestExp32(t *testing.T) {
	for x := -87.0; x < 88.7; x += 0.0137 {
		got, want := float64(exp32(float32(x))), math.Exp(float64(float32(x)))
		if math.Abs(got-want) > 2e-7*want {
			t.Fatalf("exp32(%g) = %g, want %g", x, got, want)
		}
	}
}
