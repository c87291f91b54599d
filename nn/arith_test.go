package nn

import (
	"fmt"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

var broadcastCases = []struct{ a, b tensor.Shape }{
	{tensor.Shape{2, 3, 4, 5}, tensor.Shape{2, 3, 4, 5}},
	{tensor.Shape{2, 3, 4, 5}, tensor.Shape{2, 3, 1, 1}}, // time embedding added to feature maps
	{tensor.Shape{2, 3, 4, 5}, tensor.Shape{1, 3, 1, 1}}, // per-channel
	{tensor.Shape{1, 3, 1, 5}, tensor.Shape{2, 3, 4, 5}}, // first operand broadcast
	{tensor.Shape{2, 1, 4, 1}, tensor.Shape{1, 3, 1, 5}}, // both broadcast
	{tensor.Shape{3, 7}, tensor.Shape{1, 7}},
}

func TestBinaryGradient(t *testing.T) {
	for _, kind := range []BinaryKind{Add, Sub, Mul} {
		for _, c := range broadcastCases {
			t.Run(fmt.Sprint(kind, c.a, c.b), func(t *testing.T) {
				checkOp(t, []tensor.Shape{c.a, c.b}, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
					return Binary(kind, in[0], in[1])
				})
			})
		}
	}
}

func TestBinaryAgainstGorgonia(t *testing.T) {
	same := []tensor.Shape{{2, 3, 4, 5}, {2, 3, 4, 5}}
	for _, c := range []struct {
		kind BinaryKind
		ref  func(a, b *gorgonia.Node) (*gorgonia.Node, error)
	}{{Add, gorgonia.Add}, {Sub, gorgonia.Sub}, {Mul, gorgonia.HadamardProd}} {
		checkAgainst(t, tensor.Float64, same, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
			return Binary(c.kind, in[0], in[1])
		}, func(in []*gorgonia.Node) (*gorgonia.Node, error) { return c.ref(in[0], in[1]) }, 1e-12)
	}
	// Broadcast over the spatial axes, as the time embedding is added.
	checkAgainst(t, tensor.Float64, []tensor.Shape{{2, 3, 4, 5}, {2, 3, 1, 1}}, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
		return Binary(Add, in[0], in[1])
	}, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
		return gorgonia.BroadcastAdd(in[0], in[1], nil, []byte{2, 3})
	}, 1e-12)
}

func TestBinaryRejectsMismatchedShapes(t *testing.T) {
	g := gorgonia.NewGraph()
	a := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(2, 3, 4, 5), gorgonia.WithName("a"))
	b := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(2, 4, 1, 1), gorgonia.WithName("b"))
	if _, err := Binary(Add, a, b); err == nil {
		t.Fatal("Add of (2,3,4,5) and (2,4,1,1) succeeded")
	}
}

func TestScaleGradient(t *testing.T) {
	checkOp(t, []tensor.Shape{{3, 5}}, func(in []*gorgonia.Node) (*gorgonia.Node, error) { return Scale(in[0], -0.7) })
}

func TestReduceGradient(t *testing.T) {
	x := tensor.Shape{2, 3, 4, 5}
	for _, to := range []tensor.Shape{{1, 3, 1, 1}, {2, 3, 1, 1}, {1, 1, 4, 5}, {2, 1, 1, 5}, tensor.ScalarShape()} {
		t.Run(fmt.Sprint(to), func(t *testing.T) {
			checkOp(t, []tensor.Shape{x}, func(in []*gorgonia.Node) (*gorgonia.Node, error) { return SumTo(in[0], to) })
		})
	}
	checkOp(t, []tensor.Shape{x}, func(in []*gorgonia.Node) (*gorgonia.Node, error) { return Mean(in[0]) })
}

func TestReduceAgainstGorgonia(t *testing.T) {
	s := []tensor.Shape{{2, 3, 4, 5}}
	checkAgainst(t, tensor.Float64, s, func(in []*gorgonia.Node) (*gorgonia.Node, error) { return Sum(in[0]) },
		func(in []*gorgonia.Node) (*gorgonia.Node, error) { return gorgonia.Sum(in[0]) }, 1e-12)
	checkAgainst(t, tensor.Float64, s, func(in []*gorgonia.Node) (*gorgonia.Node, error) { return Mean(in[0]) },
		func(in []*gorgonia.Node) (*gorgonia.Node, error) { return gorgonia.Mean(in[0]) }, 1e-12)
	// A bias gradient: the sum over batch and space, per channel.
	checkAgainst(t, tensor.Float64, s, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
		r, err := SumTo(in[0], tensor.Shape{1, 3, 1, 1})
		if err != nil {
			return nil, err
		}
		return Reshape(r, tensor.Shape{3})
	}, func(in []*gorgonia.Node) (*gorgonia.Node, error) { return gorgonia.Sum(in[0], 0, 2, 3) }, 1e-12)
}
