package nn

import (
	"math/rand/v2"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/engine"
)

func mseOf(in []*gorgonia.Node) (*gorgonia.Node, error) { return MSE(in[0], in[1]) }

func TestMSEGradient(t *testing.T) {
	for _, s := range []tensor.Shape{{3, 5, 7}, {4}, {2, 1, 3, 3}} {
		checkOp(t, []tensor.Shape{s, s}, mseOf)
	}
}

func TestMSEAgainstGorgonia(t *testing.T) {
	s := tensor.Shape{3, 5, 7}
	checkAgainst(t, tensor.Float64, []tensor.Shape{s, s}, mseOf, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
		d, err := gorgonia.Sub(in[0], in[1])
		if err != nil {
			return nil, err
		}
		if d, err = gorgonia.Square(d); err != nil {
			return nil, err
		}
		return gorgonia.Mean(d)
	}, 1e-12)
}

// TestMSEAgainstLoop compares a float32 MSE over several summation blocks
// (and a partial one) with a plain float64 loop.
func TestMSEAgainstLoop(t *testing.T) {
	const n = 3*grain + 17
	rng := rand.New(rand.NewPCG(9, 9))
	a, b := make([]float32, n), make([]float32, n)
	var want float64
	for i := range a {
		a[i], b[i] = float32(rng.NormFloat64()), float32(1+rng.NormFloat64())
		d := float64(a[i]) - float64(b[i])
		want += d * d
	}
	want /= n
	got := evalOn(t, mseOf, tensor.New(tensor.WithShape(n), tensor.WithBacking(a)), tensor.New(tensor.WithShape(n), tensor.WithBacking(b)))
	assertClose(t, "MSE", got, []float64{want}, 1e-7)
}

func TestMSERejectsMismatchedShapes(t *testing.T) {
	g := gorgonia.NewGraph()
	a := gorgonia.NewTensor(g, tensor.Float32, 2, gorgonia.WithShape(3, 4), gorgonia.WithName("a"))
	b := gorgonia.NewTensor(g, tensor.Float32, 2, gorgonia.WithShape(4, 3), gorgonia.WithName("b"))
	if _, err := MSE(a, b); err == nil || !strings.Contains(err.Error(), "(3, 4)") || !strings.Contains(err.Error(), "(4, 3)") {
		t.Fatalf("MSE of (3,4) and (4,3): error %v, want one naming both shapes", err)
	}
}

func TestMSEKernelsDoNotAllocate(t *testing.T) {
	s := tensor.Shape{64, 3, 32, 32}
	assertNoAllocs(t, "forward", bindRandom(&mse{}, tensor.ScalarShape(), s, s))
	assertNoAllocs(t, "grad", bindRandom(&mseGrad{}, s, s, s, tensor.ScalarShape()))
}

// TestOpsInAPlan runs a small network made of this package's ops (every op
// of the GroupNorm, Upsample, Concat, Split, Dropout, Sinusoidal, Softmax
// and MSE families, forward and backward) through a compiled engine plan,
// where buffers are reused and ops run in place, and checks that it gives
// exactly what gorgonia's TapeMachine gives.
func TestOpsInAPlan(t *testing.T) {
	g := gorgonia.NewGraph()
	rng := rand.New(rand.NewPCG(2, 3))
	input := func(name string, s ...int) *gorgonia.Node {
		return gorgonia.NewTensor(g, tensor.Float32, len(s), gorgonia.WithShape(s...), gorgonia.WithName(name),
			gorgonia.WithValue(randTensor(rng, tensor.Float32, s, 1)))
	}
	x, gamma, beta := input("x", 2, 8, 4, 4), input("gamma", 8), input("beta", 8)
	tm, target := input("t", 2), input("target", 2, 8, 8, 8)
	must := func(n *gorgonia.Node, err error) *gorgonia.Node {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	h := must(GroupNorm(x, gamma, beta, 4, 1e-5, SiLU))
	h = must(Upsample2x(h))
	h = must(Concat(h, must(Upsample2x(x))))
	h = must(Dropout(h, 0.2, 1, &RNG{Seed: 9, Step: 3}))
	h = must(Split(h, 4, 12))
	e := must(Reshape(must(Sinusoidal(tm, 8, 10)), tensor.Shape{2, 8, 1, 1}))
	h = must(Binary(Add, h, e))
	h = must(GroupNorm(h, gamma, beta, 2, 1e-5, Identity))
	h = must(Softmax(h))
	loss := must(MSE(h, target))
	grads, err := gorgonia.Grad(loss, x, gamma, beta, tm, target)
	if err != nil {
		t.Fatal(err)
	}
	outputs := append(gorgonia.Nodes{loss}, grads...)

	p, err := engine.Compile(outputs, engine.NewCPU())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(); err != nil {
		t.Fatal(err)
	}
	m := gorgonia.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	for _, n := range outputs {
		want := f64s(t, n.Value())
		got := make([]float32, len(want))
		if err := p.Read(n, got); err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if float64(got[i]) != want[i] {
				t.Fatalf("%s[%d]: plan %v, TapeMachine %v", n.Name(), i, got[i], want[i])
			}
		}
	}
}

func pseudoHuberOf(c float64) graphFn {
	return func(in []*gorgonia.Node) (*gorgonia.Node, error) { return PseudoHuber(in[0], in[1], in[2], c) }
}

func TestPseudoHuberGradient(t *testing.T) {
	for _, c := range []float64{0.03, 2} {
		checkOp(t, []tensor.Shape{{3, 2, 2, 2}, {3, 2, 2, 2}, {3}}, pseudoHuberOf(c))
		checkOp(t, []tensor.Shape{{1, 5}, {1, 5}, {1}}, pseudoHuberOf(c))
	}
}

// TestPseudoHuberAgainstGorgonia builds the same loss from gorgonia's
// built-ins: per-sample sums of squares, sqrt(s + c^2) - c, weighted mean.
func TestPseudoHuberAgainstGorgonia(t *testing.T) {
	const c = 0.3
	checkAgainst(t, tensor.Float64, []tensor.Shape{{4, 3, 5}, {4, 3, 5}, {4}}, pseudoHuberOf(c), func(in []*gorgonia.Node) (*gorgonia.Node, error) {
		d, err := gorgonia.Sub(in[0], in[1])
		if err != nil {
			return nil, err
		}
		if d, err = gorgonia.Square(d); err != nil {
			return nil, err
		}
		if d, err = gorgonia.Sum(d, 1, 2); err != nil {
			return nil, err
		}
		if d, err = gorgonia.Add(d, gorgonia.NewConstant(c*c)); err != nil {
			return nil, err
		}
		if d, err = gorgonia.Sqrt(d); err != nil {
			return nil, err
		}
		if d, err = gorgonia.Sub(d, gorgonia.NewConstant(c)); err != nil {
			return nil, err
		}
		if d, err = gorgonia.HadamardProd(d, in[2]); err != nil {
			return nil, err
		}
		return gorgonia.Mean(d)
	}, 1e-12)
}

// TestPseudoHuberRegimes checks the loss's two ends against their closed
// forms: ||e||^2 / (2c) for a difference much smaller than c, ||e|| - c
// for one much larger.
func TestPseudoHuberRegimes(t *testing.T) {
	e := []float32{3e-4, -4e-4} // ||e|| = 5e-4
	for _, tc := range []struct {
		c, scale, want float64
	}{
		{1, 1, 25e-8 / 2},
		{1e-6, 1e4, 5 - 1e-6},
	} {
		a := tensor.New(tensor.WithShape(1, 2), tensor.WithBacking([]float32{float32(tc.scale) * e[0], float32(tc.scale) * e[1]}))
		b := tensor.New(tensor.WithShape(1, 2), tensor.WithBacking([]float32{0, 0}))
		w := tensor.New(tensor.WithShape(1), tensor.WithBacking([]float32{1}))
		got := evalOn(t, pseudoHuberOf(tc.c), a, b, w)
		assertClose(t, "PseudoHuber", got, []float64{tc.want}, 1e-4*tc.want)
	}
}

func TestPseudoHuberRefusesBadArguments(t *testing.T) {
	g := gorgonia.NewGraph()
	node := func(name string, s ...int) *gorgonia.Node {
		return gorgonia.NewTensor(g, tensor.Float32, len(s), gorgonia.WithShape(s...), gorgonia.WithName(name))
	}
	a, b, w := node("a", 4, 3), node("b", 4, 3), node("w", 4)
	for _, tc := range []struct {
		a, b, w *gorgonia.Node
		c       float64
		want    string
	}{
		{a, node("b2", 3, 4), w, 1, "(3, 4)"},
		{a, b, node("w2", 3), 1, "want (4)"},
		{a, b, w, 0, "c = 0"},
	} {
		if _, err := PseudoHuber(tc.a, tc.b, tc.w, tc.c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want one containing %q", err, tc.want)
		}
	}
}

func TestPseudoHuberKernelsDoNotAllocate(t *testing.T) {
	s, w := tensor.Shape{64, 1, 28, 28}, tensor.Shape{64}
	assertNoAllocs(t, "forward", bindRandom(&pseudoHuber{c: 0.015}, tensor.ScalarShape(), s, s, w))
	assertNoAllocs(t, "grad by a", bindRandom(&pseudoHuberGrad{c: 0.015}, s, s, s, w, tensor.ScalarShape()))
	assertNoAllocs(t, "grad by w", bindRandom(&pseudoHuberGrad{c: 0.015, wrt: 2}, w, s, s, w, tensor.ScalarShape()))
}
