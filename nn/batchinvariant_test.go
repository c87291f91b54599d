package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/engine"
)

// runBatch compiles f on a batch of n images (the first n of x) with the
// CPU backend's BatchInvariant set as asked, and returns the output.
func runBatch(t *testing.T, f func(x *gorgonia.Node, ws []*gorgonia.Node) (*gorgonia.Node, error), shape tensor.Shape, x []float32, ws []*tensor.Dense, invariant bool) []float32 {
	t.Helper()
	g := gorgonia.NewGraph()
	size := shape.TotalSize() / shape[0]
	n := len(x) / size
	s := append(tensor.Shape{n}, shape[1:]...)
	xn := gorgonia.NewTensor(g, tensor.Float32, s.Dims(), gorgonia.WithShape(s...), gorgonia.WithName("x"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(s...), tensor.WithBacking(x))))
	var wn []*gorgonia.Node
	for i, w := range ws {
		wn = append(wn, gorgonia.NodeFromAny(g, w, gorgonia.WithName("w"+string(rune('0'+i)))))
	}
	out, err := f(xn, wn)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := engine.Compile(gorgonia.Nodes{out}, &engine.CPU{BatchInvariant: invariant})
	if err != nil {
		t.Fatal(err)
	}
	if err := plan.Run(); err != nil {
		t.Fatal(err)
	}
	y := make([]float32, out.Shape().TotalSize())
	if err := plan.Read(out, y); err != nil {
		t.Fatal(err)
	}
	return y
}

// With BatchInvariant, the first 7 images of a batch of 64 come out of a
// convolution and a linear layer bit for bit as a batch of 7 gives them,
// as sampling needs (an image must not depend on its batch size); without
// it, OpenBLAS's blocking makes some differ in the last bits.
func TestBatchInvariantOps(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	rnd := func(s ...int) []float32 {
		v := make([]float32, tensor.Shape(s).TotalSize())
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	dense := func(s ...int) *tensor.Dense { return tensor.New(tensor.WithShape(s...), tensor.WithBacking(rnd(s...))) }
	for _, c := range []struct {
		name  string
		shape tensor.Shape
		ws    []*tensor.Dense
		f     func(x *gorgonia.Node, ws []*gorgonia.Node) (*gorgonia.Node, error)
	}{
		{"Conv2d", tensor.Shape{64, 32, 14, 14}, []*tensor.Dense{dense(64, 32, 3, 3), dense(64)},
			func(x *gorgonia.Node, ws []*gorgonia.Node) (*gorgonia.Node, error) {
				return Conv2d(x, ws[0], ws[1], 1, 1)
			}},
		// oneDNN picks other kernels for 1x1, strided and one-channel
		// convolutions.
		{"Conv2d 1x1", tensor.Shape{64, 96, 7, 7}, []*tensor.Dense{dense(64, 96, 1, 1), dense(64)},
			func(x *gorgonia.Node, ws []*gorgonia.Node) (*gorgonia.Node, error) {
				return Conv2d(x, ws[0], ws[1], 1, 0)
			}},
		{"Conv2d stride 2", tensor.Shape{64, 64, 14, 14}, []*tensor.Dense{dense(64, 64, 3, 3), dense(64)},
			func(x *gorgonia.Node, ws []*gorgonia.Node) (*gorgonia.Node, error) {
				return Conv2d(x, ws[0], ws[1], 2, 1)
			}},
		{"Conv2d from 1 channel", tensor.Shape{64, 1, 28, 28}, []*tensor.Dense{dense(64, 1, 3, 3), dense(64)},
			func(x *gorgonia.Node, ws []*gorgonia.Node) (*gorgonia.Node, error) {
				return Conv2d(x, ws[0], ws[1], 1, 1)
			}},
		{"Conv2d to 1 channel", tensor.Shape{64, 64, 28, 28}, []*tensor.Dense{dense(1, 64, 3, 3), dense(1)},
			func(x *gorgonia.Node, ws []*gorgonia.Node) (*gorgonia.Node, error) {
				return Conv2d(x, ws[0], ws[1], 1, 1)
			}},
		{"Linear", tensor.Shape{64, 256}, []*tensor.Dense{dense(256, 256), dense(256)},
			func(x *gorgonia.Node, ws []*gorgonia.Node) (*gorgonia.Node, error) { return Linear(x, ws[0], ws[1]) }},
	} {
		x := rnd(c.shape...)
		seven := len(x) / 64 * 7
		differ := map[bool]int{}
		for _, invariant := range []bool{true, false} {
			all := runBatch(t, c.f, c.shape, x, c.ws, invariant)
			few := runBatch(t, c.f, c.shape, x[:seven], c.ws, invariant)
			for i := range few {
				if math.Float32bits(few[i]) != math.Float32bits(all[i]) {
					differ[invariant]++
				}
			}
		}
		if differ[true] != 0 {
			t.Errorf("%s with BatchInvariant: %d values of the first 7 images differ between batches of 7 and 64", c.name, differ[true])
		}
		t.Logf("%s: without BatchInvariant %d values differ", c.name, differ[false])
	}
}
