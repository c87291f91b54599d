package nn

import (
	"fmt"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func upsampleOf(in []*gorgonia.Node) (*gorgonia.Node, error) { return Upsample2x(in[0]) }

var upsampleCases = []tensor.Shape{{2, 3, 4, 5}, {1, 2, 3, 1}, {3, 1, 1, 1}}

func TestUpsampleGradient(t *testing.T) {
	for _, s := range upsampleCases {
		checkOp(t, []tensor.Shape{s}, upsampleOf)
	}
}

func TestUpsampleAgainstGorgonia(t *testing.T) {
	for _, s := range append(upsampleCases, tensor.Shape{4, 8, 32, 32}) { // the last splits across cores
		t.Run(fmt.Sprint(s), func(t *testing.T) {
			checkAgainst(t, tensor.Float64, []tensor.Shape{s}, upsampleOf, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
				return gorgonia.Upsample2D(in[0], 2)
			}, 1e-12)
		})
	}
}

func TestUpsampleRejectsBadShape(t *testing.T) {
	g := gorgonia.NewGraph()
	x := gorgonia.NewTensor(g, tensor.Float32, 3, gorgonia.WithShape(2, 4, 5), gorgonia.WithName("x"))
	if _, err := Upsample2x(x); err == nil || !strings.Contains(err.Error(), "(2, 4, 5)") {
		t.Fatalf("Upsample2x of (2,4,5): error %v, want one naming the shape", err)
	}
}

func TestUpsampleKernelsDoNotAllocate(t *testing.T) {
	x, y := tensor.Shape{4, 32, 16, 16}, tensor.Shape{4, 32, 32, 32}
	assertNoAllocs(t, "forward", bindRandom(&upsample{}, y, x))
	assertNoAllocs(t, "grad", bindRandom(&upsampleGrad{}, x, y))
}
