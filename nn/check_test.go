package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// graphFn builds the graph under test from its input nodes.
type graphFn func(in []*gorgonia.Node) (*gorgonia.Node, error)

// testGraph is f applied to fresh random inputs of the given shapes, with a
// scalar cost sum(f(x) * w) for a fixed random w, built from gorgonia's own
// (correct) Mul and Sum so that the cost adds no code under test.
type testGraph struct {
	g     *gorgonia.ExprGraph
	in    []*gorgonia.Node
	out   *gorgonia.Node
	cost  *gorgonia.Node
	grads gorgonia.Nodes
}

func randTensor(rng *rand.Rand, dt tensor.Dtype, s tensor.Shape, scale float64) *tensor.Dense {
	n := s.TotalSize()
	if dt == tensor.Float32 {
		d := make([]float32, n)
		for i := range d {
			d[i] = float32(rng.NormFloat64() * scale)
		}
		return tensor.New(tensor.WithShape(s...), tensor.WithBacking(d))
	}
	d := make([]float64, n)
	for i := range d {
		d[i] = rng.NormFloat64() * scale
	}
	return tensor.New(tensor.WithShape(s...), tensor.WithBacking(d))
}

// buildTest builds f in dtype dt on inputs drawn from seed (the same seed
// gives the same values in either dtype, up to rounding).
func buildTest(t *testing.T, dt tensor.Dtype, seed uint64, shapes []tensor.Shape, f graphFn) *testGraph {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	tg := &testGraph{g: gorgonia.NewGraph()}
	for i, s := range shapes {
		n := gorgonia.NewTensor(tg.g, dt, s.Dims(), gorgonia.WithShape(s...), gorgonia.WithName("in"+string(rune('0'+i))),
			gorgonia.WithValue(randTensor(rng, dt, s, 1)))
		tg.in = append(tg.in, n)
	}
	out, err := f(tg.in)
	if err != nil {
		t.Fatalf("building graph: %v", err)
	}
	tg.out = out
	prod := out
	if !out.IsScalar() {
		w := gorgonia.NewTensor(tg.g, dt, out.Dims(), gorgonia.WithShape(out.Shape()...), gorgonia.WithName("w"),
			gorgonia.WithValue(randTensor(rng, dt, out.Shape(), 1)))
		if prod, err = gorgonia.HadamardProd(out, w); err != nil {
			t.Fatal(err)
		}
		if prod, err = gorgonia.Sum(prod); err != nil {
			t.Fatal(err)
		}
	}
	tg.cost = prod
	if tg.grads, err = gorgonia.Grad(tg.cost, tg.in...); err != nil {
		t.Fatalf("Grad: %v", err)
	}
	return tg
}

func (tg *testGraph) run(t *testing.T) {
	t.Helper()
	m := gorgonia.NewTapeMachine(tg.g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatalf("TapeMachine: %v", err)
	}
}

func f64s(t *testing.T, v gorgonia.Value) []float64 {
	t.Helper()
	switch v := v.(type) {
	case *gorgonia.F64:
		return []float64{float64(*v)}
	case *gorgonia.F32:
		return []float64{float64(*v)}
	case tensor.Tensor:
		switch d := v.Data().(type) {
		case []float64:
			return d
		case []float32:
			out := make([]float64, len(d))
			for i, x := range d {
				out[i] = float64(x)
			}
			return out
		case float64:
			return []float64{d}
		case float32:
			return []float64{float64(d)}
		}
	}
	t.Fatalf("unexpected value %T", v)
	return nil
}

// assertClose fails unless got and want agree to within tol relative to the
// largest magnitude in want (and at least tol absolute).
func assertClose(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d elements, want %d", what, len(got), len(want))
	}
	scale := 1.0
	for _, w := range want {
		scale = max(scale, math.Abs(w))
	}
	for i := range got {
		if d := math.Abs(got[i] - want[i]); !(d <= tol*scale) {
			t.Fatalf("%s[%d] = %.9g, want %.9g (|diff| %.3g > %.3g)", what, i, got[i], want[i], d, tol*scale)
		}
	}
}

// checkOp is the test every op gets: its float64 gradients against central
// finite differences of the cost, and its float32 kernels against its
// float64 ones.
func checkOp(t *testing.T, shapes []tensor.Shape, f graphFn) {
	t.Helper()
	tg := buildTest(t, tensor.Float64, 7, shapes, f)
	tg.run(t)
	cost := func() float64 {
		m := gorgonia.NewTapeMachine(tg.g)
		defer m.Close()
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
		return f64s(t, tg.cost.Value())[0]
	}
	// Take every analytic gradient before any input is perturbed.
	analytic := make([][]float64, len(tg.in))
	for i := range tg.in {
		analytic[i] = append([]float64(nil), f64s(t, tg.grads[i].Value())...)
	}
	for i, in := range tg.in {
		x := in.Value().Data().([]float64)
		numeric := centralDiff(x, cost)
		assertClose(t, "gradient of input "+string(rune('0'+i)), analytic[i], numeric, 1e-6)
	}
	tg = buildTest(t, tensor.Float64, 7, shapes, f)
	tg.run(t)
	t32 := buildTest(t, tensor.Float32, 7, shapes, f)
	t32.run(t)
	assertClose(t, "float32 output", f64s(t, t32.out.Value()), f64s(t, tg.out.Value()), 1e-5)
	for i := range tg.grads {
		assertClose(t, "float32 gradient "+string(rune('0'+i)), f64s(t, t32.grads[i].Value()), f64s(t, tg.grads[i].Value()), 1e-5)
	}
}

// checkAgainst compares f's output and input gradients with a reference
// graph ref built on the same inputs: one of gorgonia's built-ins, or plain
// float64 arithmetic where gorgonia has none.
func checkAgainst(t *testing.T, dt tensor.Dtype, shapes []tensor.Shape, f, ref graphFn, tol float64) {
	t.Helper()
	got := buildTest(t, dt, 11, shapes, f)
	want := buildTest(t, dt, 11, shapes, ref)
	got.run(t)
	want.run(t)
	assertClose(t, "output", f64s(t, got.out.Value()), f64s(t, want.out.Value()), tol)
	for i := range got.grads {
		assertClose(t, "gradient of input "+string(rune('0'+i)), f64s(t, got.grads[i].Value()), f64s(t, want.grads[i].Value()), tol)
	}
}

// centralDiff is the derivative of cost with respect to each element of x
// by central differences (x is what cost reads; it is left as it was).
func centralDiff(x []float64, cost func() float64) []float64 {
	const h = 1e-6
	d := make([]float64, len(x))
	for j := range x {
		x0 := x[j]
		x[j] = x0 + h
		cp := cost()
		x[j] = x0 - h
		cm := cost()
		x[j] = x0
		d[j] = (cp - cm) / (2 * h)
	}
	return d
}
