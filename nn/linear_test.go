package nn

import (
	"fmt"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

type linearCase struct {
	batch, in, out int
	bias           bool
}

// The last case has one input feature: an outer product.
var linearCases = []linearCase{{3, 5, 4, true}, {3, 5, 4, false}, {1, 7, 2, true}, {5, 1, 3, true}}

func (c linearCase) shapes() []tensor.Shape {
	s := []tensor.Shape{{c.batch, c.in}, {c.out, c.in}}
	if c.bias {
		s = append(s, tensor.Shape{c.out})
	}
	return s
}

func (c linearCase) build(in []*gorgonia.Node) (*gorgonia.Node, error) {
	var b *gorgonia.Node
	if c.bias {
		b = in[2]
	}
	return Linear(in[0], in[1], b)
}

// reference is x w^T (+ b) from gorgonia's Mul, Transpose and BroadcastAdd.
func (c linearCase) reference(in []*gorgonia.Node) (*gorgonia.Node, error) {
	wt, err := gorgonia.Transpose(in[1])
	if err != nil {
		return nil, err
	}
	y, err := gorgonia.Mul(in[0], wt)
	if err != nil || !c.bias {
		return y, err
	}
	b, err := gorgonia.Reshape(in[2], tensor.Shape{1, c.out})
	if err != nil {
		return nil, err
	}
	return gorgonia.BroadcastAdd(y, b, nil, []byte{0})
}

func TestLinearGradient(t *testing.T) {
	for _, c := range linearCases {
		t.Run(fmt.Sprint(c), func(t *testing.T) { checkOp(t, c.shapes(), c.build) })
	}
}

func TestLinearAgainstGorgonia(t *testing.T) {
	for _, c := range linearCases {
		t.Run(fmt.Sprint(c), func(t *testing.T) {
			checkAgainst(t, tensor.Float64, c.shapes(), c.build, c.reference, 1e-12)
		})
	}
}

func TestLinearRejectsMismatchedShapes(t *testing.T) {
	g := gorgonia.NewGraph()
	x := gorgonia.NewTensor(g, tensor.Float32, 2, gorgonia.WithShape(3, 5), gorgonia.WithName("x"))
	w := gorgonia.NewTensor(g, tensor.Float32, 2, gorgonia.WithShape(4, 6), gorgonia.WithName("w"))
	_, err := Linear(x, w, nil)
	if err == nil {
		t.Fatal("Linear of (3,5) with (4,6) succeeded")
	}
	for _, s := range []tensor.Shape{x.Shape(), w.Shape()} {
		if !strings.Contains(err.Error(), fmt.Sprint(s)) {
			t.Errorf("error %q does not name shape %v", err, s)
		}
	}
	w4 := gorgonia.NewTensor(g, tensor.Float32, 2, gorgonia.WithShape(4, 5), gorgonia.WithName("w4"))
	b := gorgonia.NewTensor(g, tensor.Float32, 1, gorgonia.WithShape(5), gorgonia.WithName("b"))
	if _, err := Linear(x, w4, b); err == nil {
		t.Error("Linear with a 5-element bias for 4 outputs succeeded")
	}
}
