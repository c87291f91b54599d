package nn

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

var allActs = []Act{Identity, SiLU, ReLU, LeakyReLU, Sigmoid, Tanh, Exp, Log, Softplus, Sqrt}

// positiveOnly are the activations defined only for x > 0.
func positiveOnly(a Act) bool { return a == Log || a == Sqrt }

func TestActivationsGradient(t *testing.T) {
	for _, act := range allActs {
		t.Run(act.String(), func(t *testing.T) {
			checkOp(t, []tensor.Shape{{2, 3, 5, 7}}, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
				x := in[0]
				if positiveOnly(act) { // into the domain, through an op checked on its own
					var err error
					if x, err = Activate(x, Exp, 0); err != nil {
						return nil, err
					}
				}
				return Activate(x, act, 0.2)
			})
		})
	}
}

// TestActivationsAgainstClosedForm compares each activation with its
// textbook formula evaluated with the math package, on inputs in its
// domain: normals, and for Log and Sqrt their magnitudes plus 0.01.
func TestActivationsAgainstClosedForm(t *testing.T) {
	sig := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	want := map[Act]func(float64) float64{
		Identity:  func(x float64) float64 { return x },
		SiLU:      func(x float64) float64 { return x * sig(x) },
		ReLU:      func(x float64) float64 { return math.Max(x, 0) },
		LeakyReLU: func(x float64) float64 { return math.Max(x, 0) + 0.2*math.Min(x, 0) },
		Sigmoid:   sig,
		Tanh:      math.Tanh,
		Exp:       math.Exp,
		Log:       math.Log,
		Softplus:  func(x float64) float64 { return math.Log(1 + math.Exp(x)) },
		Sqrt:      math.Sqrt,
	}
	rng := rand.New(rand.NewPCG(3, 3))
	x := make([]float64, 400)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	for act, f := range want {
		in := append([]float64(nil), x...)
		if positiveOnly(act) {
			for i, v := range in {
				in[i] = math.Abs(v) + 0.01
			}
		}
		ref := make([]float64, len(in))
		for i := range in {
			ref[i] = f(in[i])
		}
		for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
			v := tensor.New(tensor.WithShape(4, 100), tensor.WithBacking(append([]float64(nil), in...)))
			tol := 1e-15
			if dt == tensor.Float32 {
				v32 := make([]float32, len(in))
				for i, u := range in {
					v32[i] = float32(u)
				}
				v, tol = tensor.New(tensor.WithShape(4, 100), tensor.WithBacking(v32)), 3e-7
			}
			got := evalOn(t, func(in []*gorgonia.Node) (*gorgonia.Node, error) { return Activate(in[0], act, 0.2) }, v)
			// float32 rounds the input too: compare relative to each value.
			for i := range got {
				if d := math.Abs(got[i] - ref[i]); !(d <= tol*max(1, math.Abs(ref[i]))*4) {
					t.Fatalf("%v %v at %g: %g, want %g", act, dt, in[i], got[i], ref[i])
				}
			}
		}
	}
}

// Softplus neither overflows for large x nor loses e^x for very negative
// x, where log(1+e^x) computed as written gives +Inf and 0.
func TestSoftplusIsStable(t *testing.T) {
	for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
		xs := []float64{-200, -80, -30, 30, 80, 200, 1000}
		var v *tensor.Dense
		if dt == tensor.Float32 {
			v32 := make([]float32, len(xs))
			for i, x := range xs {
				v32[i] = float32(x)
			}
			v = tensor.New(tensor.WithShape(len(xs)), tensor.WithBacking(v32))
		} else {
			v = tensor.New(tensor.WithShape(len(xs)), tensor.WithBacking(append([]float64(nil), xs...)))
		}
		got := evalOn(t, func(in []*gorgonia.Node) (*gorgonia.Node, error) { return Activate(in[0], Softplus, 0) }, v)
		for i, x := range xs {
			want := x // log(1+e^x) = x + log1p(e^-x), the second term below float precision
			if x < 0 {
				want = math.Exp(x) // log1p(e^x) ~ e^x
			}
			if dt == tensor.Float32 && x < -80 {
				want = 0 // e^-200 is below float32's smallest subnormal
			}
			if d := math.Abs(got[i] - want); !(d <= 1e-6*math.Abs(want)) {
				t.Errorf("%v Softplus(%g) = %g, want %g", dt, x, got[i], want)
			}
		}
	}
}

// The second derivative of every activation (through
// activationGrad's gradient) against finite differences of the first.
func TestActivationsSecondDerivative(t *testing.T) {
	for _, act := range allActs {
		t.Run(act.String(), func(t *testing.T) {
			secondOrder{
				shapes:   []tensor.Shape{{3, 5}, {3, 5}},
				positive: positiveOnly(act),
				first: func(in []*gorgonia.Node) (*gorgonia.Node, error) {
					y, err := Activate(in[0], act, 0.2)
					if err == nil {
						y, err = Binary(Mul, y, in[1])
					}
					return sumOr(y, err)
				},
				firstWRT: []int{0}, wrt: []int{0, 1},
			}.check(t)
		})
	}
}

func TestActivateRejectsUnknownAct(t *testing.T) {
	g := gorgonia.NewGraph()
	x := gorgonia.NewTensor(g, tensor.Float32, 2, gorgonia.WithShape(2, 3), gorgonia.WithName("x"))
	_, err := Activate(x, Act(42), 0)
	if err == nil || !strings.Contains(err.Error(), "Act(42)") || !strings.Contains(err.Error(), "(2, 3)") {
		t.Fatalf("Activate with an unknown activation: error %v, want one naming it and the shape", err)
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
