package nn

import (
	"fmt"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/engine"
)

type matMulCase struct {
	a, b           tensor.Shape
	transA, transB bool
}

// matMulCases are products of [3,5] by [5,4] (and a batch of two [2,5] by
// [5,7]) with each operand stored plain or transposed.
var matMulCases = func() []matMulCase {
	var cs []matMulCase
	for _, tA := range []bool{false, true} {
		for _, tB := range []bool{false, true} {
			a, b := tensor.Shape{3, 5}, tensor.Shape{5, 4}
			ba, bb := tensor.Shape{2, 2, 5}, tensor.Shape{2, 5, 7}
			if tA {
				a, ba = tensor.Shape{5, 3}, tensor.Shape{2, 5, 2}
			}
			if tB {
				b, bb = tensor.Shape{4, 5}, tensor.Shape{2, 7, 5}
			}
			cs = append(cs, matMulCase{a, b, tA, tB}, matMulCase{ba, bb, tA, tB})
		}
	}
	// Inner sizes of 1: outer products.
	return append(cs, matMulCase{tensor.Shape{4, 1}, tensor.Shape{1, 5}, false, false},
		matMulCase{tensor.Shape{1, 1}, tensor.Shape{1, 6}, false, false})
}()

func (c matMulCase) String() string {
	return fmt.Sprintf("a%v_b%v_tA%v_tB%v", c.a, c.b, c.transA, c.transB)
}

func (c matMulCase) build(in []*gorgonia.Node) (*gorgonia.Node, error) {
	return MatMul(in[0], in[1], c.transA, c.transB)
}

// reference is gorgonia's BatchedMatMul for 3-D operands, and Mul on
// explicitly transposed operands for 2-D ones.
func (c matMulCase) reference(in []*gorgonia.Node) (*gorgonia.Node, error) {
	a, b := in[0], in[1]
	if c.a.Dims() == 3 {
		return gorgonia.BatchedMatMul(a, b, c.transA, c.transB)
	}
	var err error
	if c.transA {
		if a, err = gorgonia.Transpose(a); err != nil {
			return nil, err
		}
	}
	if c.transB {
		if b, err = gorgonia.Transpose(b); err != nil {
			return nil, err
		}
	}
	return gorgonia.Mul(a, b)
}

func TestMatMulGradient(t *testing.T) {
	for _, c := range matMulCases {
		t.Run(c.String(), func(t *testing.T) { checkOp(t, []tensor.Shape{c.a, c.b}, c.build) })
	}
}

func TestMatMulAgainstGorgonia(t *testing.T) {
	for _, c := range matMulCases {
		t.Run(c.String(), func(t *testing.T) {
			checkAgainst(t, tensor.Float64, []tensor.Shape{c.a, c.b}, c.build, c.reference, 1e-12)
		})
	}
}

func TestMatMulRejectsMismatchedShapes(t *testing.T) {
	g := gorgonia.NewGraph()
	node := func(name string, s ...int) *gorgonia.Node {
		return gorgonia.NewTensor(g, tensor.Float32, len(s), gorgonia.WithShape(s...), gorgonia.WithName(name))
	}
	for _, c := range []struct {
		a, b   *gorgonia.Node
		tA, tB bool
	}{
		{node("a", 3, 5), node("b", 4, 5), false, false}, // inner 5 vs 4
		{node("c", 3, 5), node("d", 5, 4), true, false},  // inner 3 vs 5
		{node("e", 2, 3, 5), node("f", 3, 5, 4), false, false},
		{node("g", 3, 5), node("h", 2, 5, 4), false, false},
		{node("i", 5), node("j", 5, 4), false, false},
	} {
		_, err := MatMul(c.a, c.b, c.tA, c.tB)
		if err == nil {
			t.Errorf("MatMul of %v and %v (transA=%v, transB=%v) succeeded", c.a.Shape(), c.b.Shape(), c.tA, c.tB)
			continue
		}
		for _, s := range []tensor.Shape{c.a.Shape(), c.b.Shape()} {
			if !strings.Contains(err.Error(), fmt.Sprint(s)) {
				t.Errorf("error %q does not name shape %v", err, s)
			}
		}
	}
}

// TestMatMulKernelsDoNotAllocate binds MatMul and Linear in float32 and
// checks that running them allocates nothing.
func TestMatMulKernelsDoNotAllocate(t *testing.T) {
	g := gorgonia.NewGraph()
	node := func(s ...int) *gorgonia.Node {
		return gorgonia.NewTensor(g, tensor.Float32, len(s), gorgonia.WithShape(s...))
	}
	mm, err := MatMul(node(2, 5, 3), node(2, 4, 5), true, true)
	if err != nil {
		t.Fatal(err)
	}
	lin, err := Linear(node(3, 5), node(4, 5), node(4))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		y  *gorgonia.Node
		in []tensor.Shape
	}{
		{mm, []tensor.Shape{{2, 5, 3}, {2, 4, 5}}},
		{lin, []tensor.Shape{{3, 5}, {4, 5}, {4}}},
	} {
		call := &engine.Call[float32]{Out: engine.Tensor[float32]{Shape: c.y.Shape(), Data: make([]float32, c.y.Shape().TotalSize())}}
		for _, s := range c.in {
			call.In = append(call.In, engine.Tensor[float32]{Shape: s, Data: make([]float32, s.TotalSize())})
		}
		run := c.y.Op().(engine.CPUOp).BindCPU(call)
		run()
		if n := testing.AllocsPerRun(5, run); n != 0 {
			t.Errorf("%v: %v allocations per call", c.y.Op(), n)
		}
	}
}
