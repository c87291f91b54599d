package nn

import (
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

var groupNormCases = []struct {
	x      tensor.Shape
	groups int
}{
	{tensor.Shape{2, 6, 3, 5}, 3},
	{tensor.Shape{3, 4, 1, 7}, 1},  // one group: layer norm
	{tensor.Shape{2, 4, 3, 2}, 4},  // one channel per group: instance norm
	{tensor.Shape{3, 6}, 2},        // [N,C], as after a linear layer
	{tensor.Shape{2, 4, 8, 16}, 2}, // 256 elements per group
}

func groupNormOf(groups int, act Act) graphFn {
	return func(in []*gorgonia.Node) (*gorgonia.Node, error) {
		return GroupNorm(in[0], in[1], in[2], groups, 1e-5, act)
	}
}

func groupNormShapes(x tensor.Shape) []tensor.Shape { return []tensor.Shape{x, {x[1]}, {x[1]}} }

func TestGroupNormGradient(t *testing.T) {
	for _, act := range []Act{Identity, SiLU} {
		for _, c := range groupNormCases {
			t.Run(fmt.Sprint(act, c.x), func(t *testing.T) {
				checkOp(t, groupNormShapes(c.x), groupNormOf(c.groups, act))
			})
		}
	}
}

// quietLog silences the log package for the test: gorgonia's GroupNorm
// backward logs its whole incoming gradient on every call.
func quietLog(t *testing.T) {
	w := log.Writer()
	log.SetOutput(io.Discard)
	t.Cleanup(func() { log.SetOutput(w) })
}

// gorgoniaGroupNorm is gorgonia's GroupNorm with gamma and beta given as [C]
// and act (Identity or SiLU, as x*sigmoid(x)) applied after it.
func gorgoniaGroupNorm(groups int, act Act) graphFn {
	return func(in []*gorgonia.Node) (*gorgonia.Node, error) {
		x := in[0]
		c := x.Shape()[1]
		gamma, err := gorgonia.Reshape(in[1], tensor.Shape{1, c, 1, 1})
		if err != nil {
			return nil, err
		}
		beta, err := gorgonia.Reshape(in[2], tensor.Shape{1, c, 1, 1})
		if err != nil {
			return nil, err
		}
		y, err := gorgonia.GroupNorm(x, gamma, beta, groups, c, 1e-5)
		if err != nil || act == Identity {
			return y, err
		}
		s, err := gorgonia.Sigmoid(y)
		if err != nil {
			return nil, err
		}
		return gorgonia.HadamardProd(y, s)
	}
}

// checkDirectional is checkOp for shapes too large to difference element by
// element: each input's gradient is checked along one random direction v,
// <grad, v> against (cost(x+hv) - cost(x-hv)) / 2h, and the float32 kernels
// against the float64 ones.
func checkDirectional(t *testing.T, shapes []tensor.Shape, f graphFn) {
	t.Helper()
	tg := buildTest(t, tensor.Float64, 7, shapes, f)
	tg.run(t)
	cost := func() float64 {
		tg.run(t)
		return f64s(t, tg.cost.Value())[0]
	}
	rng := rand.New(rand.NewPCG(8, 8))
	const h = 1e-6
	for i, in := range tg.in {
		grad := append([]float64(nil), f64s(t, tg.grads[i].Value())...)
		x := in.Value().Data().([]float64)
		x0 := append([]float64(nil), x...)
		v := make([]float64, len(x))
		var analytic float64
		for j := range v {
			v[j] = rng.NormFloat64()
			analytic += grad[j] * v[j]
		}
		for j := range x {
			x[j] = x0[j] + h*v[j]
		}
		cp := cost()
		for j := range x {
			x[j] = x0[j] - h*v[j]
		}
		cm := cost()
		copy(x, x0)
		tg.run(t) // so that the next input's gradient is at x0
		assertClose(t, "directional derivative of input "+string(rune('0'+i)), []float64{analytic}, []float64{(cp - cm) / (2 * h)}, 1e-6)
	}
	t32 := buildTest(t, tensor.Float32, 7, shapes, f)
	t32.run(t)
	assertClose(t, "float32 output", f64s(t, t32.out.Value()), f64s(t, tg.out.Value()), 1e-5)
	for i := range tg.grads {
		assertClose(t, "float32 gradient "+string(rune('0'+i)), f64s(t, t32.grads[i].Value()), f64s(t, tg.grads[i].Value()), 1e-5)
	}
}

// TestGroupNormLarge checks shapes large enough for the kernels to split
// across cores, and groups larger than gorgonia.GroupNorm handles.
func TestGroupNormLarge(t *testing.T) {
	for _, act := range []Act{Identity, SiLU} {
		for _, c := range []struct {
			x      tensor.Shape
			groups int
		}{{tensor.Shape{4, 32, 32, 32}, 8}, {tensor.Shape{3, 16, 11, 12}, 4}, {tensor.Shape{512, 96}, 3}} {
			t.Run(fmt.Sprint(act, c.x), func(t *testing.T) {
				checkDirectional(t, groupNormShapes(c.x), groupNormOf(c.groups, act))
			})
		}
	}
}

// gorgonia.GroupNorm is only right for groups of at most 256 elements: its
// moment merge (rowwiseMomentsF64) passes m1 where m2 belongs once a group
// spans more than two of its 128-element chunks, so these cases are small.
func TestGroupNormAgainstGorgonia(t *testing.T) {
	quietLog(t)
	for _, act := range []Act{Identity, SiLU} {
		for _, c := range groupNormCases {
			if c.x.Dims() != 4 {
				continue
			}
			t.Run(fmt.Sprint(act, c.x), func(t *testing.T) {
				checkAgainst(t, tensor.Float64, groupNormShapes(c.x), groupNormOf(c.groups, act), gorgoniaGroupNorm(c.groups, act), 1e-10)
			})
		}
	}
}

// TestGroupNormLargeMean checks that float32 inputs far from zero keep
// their variance: the statistics are accumulated in float64 around the mean.
func TestGroupNormLargeMean(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	s := tensor.Shape{2, 4, 8, 8}
	x32, x64 := make([]float32, s.TotalSize()), make([]float64, s.TotalSize())
	for i := range x64 {
		x32[i] = float32(1000 + rng.NormFloat64())
		x64[i] = float64(x32[i]) - 1000 // exact
	}
	ones := func(dt tensor.Dtype) *tensor.Dense { return tensor.Ones(dt, 4) }
	zeros := func(dt tensor.Dtype) *tensor.Dense { return tensor.New(tensor.Of(dt), tensor.WithShape(4)) }
	f := groupNormOf(2, SiLU)
	got := evalOn(t, f, tensor.New(tensor.WithShape(s...), tensor.WithBacking(x32)), ones(tensor.Float32), zeros(tensor.Float32))
	want := evalOn(t, f, tensor.New(tensor.WithShape(s...), tensor.WithBacking(x64)), ones(tensor.Float64), zeros(tensor.Float64))
	assertClose(t, "float32 GroupNorm of 1000+x", got, want, 1e-4)
}

func TestGroupNormRejectsBadShapes(t *testing.T) {
	g := gorgonia.NewGraph()
	node := func(name string, s ...int) *gorgonia.Node {
		return gorgonia.NewTensor(g, tensor.Float32, len(s), gorgonia.WithShape(s...), gorgonia.WithName(name))
	}
	x, g6, g5 := node("x", 2, 6, 4, 4), node("g6", 6), node("g5", 5)
	for _, c := range []struct {
		x, gamma, beta *gorgonia.Node
		groups         int
		want           []string
	}{
		{x, g6, g6, 4, []string{"(2, 6, 4, 4)", "4 groups", "6 channels"}},
		{x, g5, g6, 3, []string{"(2, 6, 4, 4)", "(5)", "(6)"}},
		{node("x3", 2, 6, 4), g6, g6, 3, []string{"(2, 6, 4)"}},
	} {
		_, err := GroupNorm(c.x, c.gamma, c.beta, c.groups, 1e-5, Identity)
		if err == nil {
			t.Fatalf("GroupNorm(%v, %v, %v, %d) succeeded", c.x.Shape(), c.gamma.Shape(), c.beta.Shape(), c.groups)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not mention %q", err, w)
			}
		}
	}
}

func TestGroupNormKernelsDoNotAllocate(t *testing.T) {
	x, ch := tensor.Shape{4, 32, 16, 16}, tensor.Shape{32}
	o := groupNorm{groups: 8, eps: 1e-5, act: SiLU}
	assertNoAllocs(t, "forward", bindRandom(&o, x, x, ch, ch))
	for wrt, out := range []tensor.Shape{x, {1, 2 * ch[0]}} {
		g := &groupNormGrad{groups: 8, eps: 1e-5, act: SiLU, wrt: wrt}
		assertNoAllocs(t, "grad "+gnWRT[wrt], bindRandom(g, out, x, ch, ch, x))
	}
}
