package gan

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/nn"
)

// param64 is a float64 input of shape s with normal values.
func param64(g *gorgonia.ExprGraph, rng *rand.Rand, name string, s ...int) *gorgonia.Node {
	d := make([]float64, tensor.Shape(s).TotalSize())
	for i := range d {
		d[i] = 0.5 * rng.NormFloat64()
	}
	return gorgonia.NewTensor(g, tensor.Float64, len(s), gorgonia.WithShape(s...), gorgonia.WithName(name),
		gorgonia.WithValue(tensor.New(tensor.WithShape(s...), tensor.WithBacking(d))))
}

// The WGAN-GP penalty's gradient by a convolutional critic's weights, whose
// graph runs back through the critic's own backward pass (strided
// convolution, LeakyReLU, reshape, linear), matches central finite
// differences of the penalty in float64.
func TestGradientPenaltyGradientMatchesFiniteDifferences(t *testing.T) {
	g := gorgonia.NewGraph()
	rng := rand.New(rand.NewPCG(4, 4))
	x := param64(g, rng, "x", 2, 1, 6, 6)
	fake := param64(g, rng, "fake", 2, 1, 6, 6)
	w1 := param64(g, rng, "w1", 3, 1, 4, 4)
	b1 := param64(g, rng, "b1", 3)
	w2 := param64(g, rng, "w2", 1, 27)
	b2 := param64(g, rng, "b2", 1)
	critic := func(in *gorgonia.Node) (*gorgonia.Node, error) {
		h, err := nn.Conv2d(in, w1, b1, 2, 1) // [2, 3, 3, 3]
		if err == nil {
			h, err = nn.Activate(h, nn.LeakyReLU, leakySlope)
		}
		if err == nil {
			h, err = nn.Reshape(h, tensor.Shape{2, 27})
		}
		if err != nil {
			return nil, err
		}
		return nn.Linear(h, w2, b2)
	}
	rngKey := &nn.RNG{Seed: 11, Step: 2}
	pen, err := gradientPenalty(critic, x, fake, rngKey)
	if err != nil {
		t.Fatal(err)
	}
	params := gorgonia.Nodes{w1, b1, w2} // b2 shifts every score alike: the penalty does not depend on it; b1's
	// gradient is zero, LeakyReLU being piecewise linear, and so are its differences
	grads, err := gorgonia.Grad(pen, params...)
	if err != nil {
		t.Fatal(err)
	}
	run := func() float64 {
		m := gorgonia.NewTapeMachine(g)
		defer m.Close()
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
		return pen.Value().Data().(float64)
	}
	if p := run(); !(p > 1e-3) {
		t.Fatalf("penalty %v: too small to test its gradient", p)
	}
	for k, p := range params {
		analytic := append([]float64(nil), grads[k].Value().Data().([]float64)...)
		v := p.Value().Data().([]float64)
		scale := 0.0
		for _, a := range analytic {
			scale = math.Max(scale, math.Abs(a))
		}
		for i := range v {
			const h = 1e-6
			old := v[i]
			v[i] = old + h
			up := run()
			v[i] = old - h
			down := run()
			v[i] = old
			if num := (up - down) / (2 * h); math.Abs(num-analytic[i]) > 1e-5*math.Max(scale, 1) {
				t.Errorf("%s[%d]: gradient %v, finite difference %v", p.Name(), i, analytic[i], num)
			}
		}
	}
}
