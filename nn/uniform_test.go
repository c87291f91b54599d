package nn

import (
	"math"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func uniformOf(stream uint32, rng *RNG) graphFn {
	return func(in []*gorgonia.Node) (*gorgonia.Node, error) { return UniformLike(in[0], stream, rng) }
}

// The noise lies in [0, 1) with the mean and variance of U[0, 1), does not
// depend on x's values, and changes with the step and the stream.
func TestUniformLikeDistribution(t *testing.T) {
	const n = 1 << 18
	u := evalOn(t, uniformOf(7, testRNG), tensor.Ones(tensor.Float32, n))
	var sum, sq float64
	for i, v := range u {
		if !(v >= 0 && v < 1) {
			t.Fatalf("element %d is %v, outside [0, 1)", i, v)
		}
		sum += v
		sq += v * v
	}
	mean, variance := sum/n, sq/n-(sum/n)*(sum/n)
	// The mean's standard error is sqrt(1/12/n) ≈ 5.6e-4.
	if math.Abs(mean-0.5) > 3e-3 || math.Abs(variance-1.0/12) > 2e-3 {
		t.Fatalf("mean %v and variance %v, want 0.5 and 1/12", mean, variance)
	}
	if again := evalOn(t, uniformOf(7, testRNG), tensor.New(tensor.WithShape(n), tensor.WithBacking(make([]float32, n)))); agreement(u, again) != 1 {
		t.Fatal("the noise depends on the values of x")
	}
	other := &RNG{Seed: testRNG.Seed, Step: testRNG.Step + 1}
	for name, v := range map[string][]float64{
		"step":   evalOn(t, uniformOf(7, other), tensor.Ones(tensor.Float32, n)),
		"stream": evalOn(t, uniformOf(8, testRNG), tensor.Ones(tensor.Float32, n)),
	} {
		if a := agreement(u, v); a > 1e-3 {
			t.Errorf("another %s draws %v of the same numbers", name, a)
		}
	}
}

// The gradient of sum(u * x) with respect to x is u: nothing flows through
// the noise itself.
func TestUniformLikeGradient(t *testing.T) {
	g := gorgonia.NewGraph()
	x := gorgonia.NewTensor(g, tensor.Float64, 2, gorgonia.WithShape(3, 5), gorgonia.WithName("x"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(3, 5), tensor.WithBacking([]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}))))
	u, err := UniformLike(x, 3, testRNG)
	if err != nil {
		t.Fatal(err)
	}
	y, err := Binary(Mul, u, x)
	if err == nil {
		y, err = Sum(y)
	}
	if err != nil {
		t.Fatal(err)
	}
	grads, err := gorgonia.Grad(y, x)
	if err != nil {
		t.Fatal(err)
	}
	m := gorgonia.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	assertClose(t, "d sum(u x)/dx", f64s(t, grads[0].Value()), f64s(t, u.Value()), 0)
}

func TestUniformLikeDoesNotAllocate(t *testing.T) {
	assertNoAllocs(t, "UniformLike", bindRandom(&uniformLike{keyed: keyed{stream: 1, rng: testRNG}}, tensor.Shape{1 << 16}, tensor.Shape{1 << 16}))
}
