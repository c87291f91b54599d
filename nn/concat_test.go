package nn

import (
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

var concatCases = [][]tensor.Shape{
	{{2, 3, 4, 5}, {2, 1, 4, 5}, {2, 2, 4, 5}},
	{{1, 2, 3, 1}, {1, 5, 3, 1}},
	{{3, 2}, {3, 5}},
}

func concatOf(in []*gorgonia.Node) (*gorgonia.Node, error) { return Concat(in...) }

func TestConcatGradient(t *testing.T) {
	for _, c := range concatCases {
		checkOp(t, c, concatOf)
	}
}

func TestConcatAgainstGorgonia(t *testing.T) {
	// The last case is large enough to split across cores.
	for _, c := range append(concatCases, []tensor.Shape{{16, 16, 16, 16}, {16, 8, 16, 16}}) {
		checkAgainst(t, tensor.Float64, c, concatOf, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
			return gorgonia.Concat(1, in...)
		}, 0)
	}
}

var splitCases = []struct {
	x        tensor.Shape
	from, to int
}{
	{tensor.Shape{2, 7, 3, 2}, 2, 5},
	{tensor.Shape{2, 7, 3, 2}, 0, 1},
	{tensor.Shape{1, 4, 1, 3}, 1, 4},
	{tensor.Shape{3, 6}, 1, 4},
}

func TestSplitGradient(t *testing.T) {
	for _, c := range splitCases {
		checkOp(t, []tensor.Shape{c.x}, func(in []*gorgonia.Node) (*gorgonia.Node, error) { return Split(in[0], c.from, c.to) })
	}
}

func TestSplitAgainstGorgonia(t *testing.T) {
	large := splitCases[0]
	large.x = tensor.Shape{16, 24, 16, 16} // splits across cores
	for _, c := range append(splitCases, large) {
		checkAgainst(t, tensor.Float64, []tensor.Shape{c.x}, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
			return Split(in[0], c.from, c.to)
		}, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
			return gorgonia.Slice(in[0], nil, gorgonia.S(c.from, c.to))
		}, 0)
	}
}

// TestConcatThenSplit checks that splitting a concatenation returns its
// parts: the U-Net's skip connections rely on the channel order.
func TestConcatThenSplit(t *testing.T) {
	checkOp(t, []tensor.Shape{{2, 3, 2, 2}, {2, 2, 2, 2}}, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
		c, err := Concat(in[0], in[1])
		if err != nil {
			return nil, err
		}
		return Split(c, 3, 5)
	})
	tg := buildTest(t, tensor.Float64, 3, []tensor.Shape{{2, 3, 2, 2}, {2, 2, 2, 2}}, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
		c, err := Concat(in[0], in[1])
		if err != nil {
			return nil, err
		}
		return Split(c, 3, 5)
	})
	tg.run(t)
	assertClose(t, "Split(Concat(a, b), 3, 5)", f64s(t, tg.out.Value()), f64s(t, tg.in[1].Value()), 0)
}

func TestConcatSplitRejectBadShapes(t *testing.T) {
	g := gorgonia.NewGraph()
	node := func(name string, s ...int) *gorgonia.Node {
		return gorgonia.NewTensor(g, tensor.Float32, len(s), gorgonia.WithShape(s...), gorgonia.WithName(name))
	}
	a, b := node("a", 2, 3, 4, 5), node("b", 2, 3, 4, 6)
	if _, err := Concat(a, b); err == nil || !strings.Contains(err.Error(), "(2, 3, 4, 5)") || !strings.Contains(err.Error(), "(2, 3, 4, 6)") {
		t.Errorf("Concat of (2,3,4,5) and (2,3,4,6): error %v, want one naming both shapes", err)
	}
	if _, err := Concat(a, node("c", 2, 3, 20)); err == nil || !strings.Contains(err.Error(), "(2, 3, 20)") {
		t.Errorf("Concat of ranks 4 and 3: error %v, want one naming both shapes", err)
	}
	for _, r := range [][2]int{{2, 4}, {-1, 2}, {2, 2}} {
		if _, err := Split(a, r[0], r[1]); err == nil || !strings.Contains(err.Error(), "(2, 3, 4, 5)") {
			t.Errorf("Split(%v, %d, %d): error %v, want one naming the shape", a.Shape(), r[0], r[1], err)
		}
	}
}

func TestConcatKernelsDoNotAllocate(t *testing.T) {
	a, b, y := tensor.Shape{4, 32, 16, 16}, tensor.Shape{4, 16, 16, 16}, tensor.Shape{4, 48, 16, 16}
	assertNoAllocs(t, "concat", bindRandom(&concat{chans: []int{32, 16}}, y, a, b))
	assertNoAllocs(t, "split", bindRandom(&split{from: 32, to: 48}, b, y))
	assertNoAllocs(t, "split grad", bindRandom(&splitGrad{from: 32, to: 48}, y, b))
}
