package nn

import (
	"fmt"

	"gorgonia.org/tensor"
)

// broadcastShape is the shape of an element-wise result of a and b: equal
// ranks, each dimension equal or 1 in one of them (NumPy's rule without
// implicit leading axes, so that a misplaced channel axis is an error).
func broadcastShape(a, b tensor.Shape) (tensor.Shape, error) {
	if a.Dims() != b.Dims() {
		return nil, fmt.Errorf("shapes %v and %v have different ranks", a, b)
	}
	out := make(tensor.Shape, a.Dims())
	for i := range out {
		switch {
		case a[i] == b[i], b[i] == 1:
			out[i] = a[i]
		case a[i] == 1:
			out[i] = b[i]
		default:
			return nil, fmt.Errorf("shapes %v and %v do not broadcast in axis %d", a, b, i)
		}
	}
	return out, nil
}

// bcast walks a full-size tensor of shape full together with one or more
// tensors broadcast to it. Adjacent axes that broadcast alike are merged, so
// the walk is a set of rows of length inner over which each operand either
// advances (stride 1) or stays put (stride 0).
type bcast struct {
	outer  []int   // sizes of the merged outer axes
	stride [][]int // per operand, its element stride along each outer axis
	inner  int     // length of the innermost merged axis
	step   []int   // per operand, 1 if it advances along the inner axis, else 0
}

func newBcast(full tensor.Shape, ops ...tensor.Shape) bcast {
	type axis struct {
		size    int
		present []bool
	}
	var axes []axis
	for i, n := range full {
		if n == 1 {
			continue
		}
		p := make([]bool, len(ops))
		for k, s := range ops {
			p[k] = s[i] != 1
		}
		if l := len(axes) - 1; l >= 0 && equalBools(axes[l].present, p) {
			axes[l].size *= n
			continue
		}
		axes = append(axes, axis{n, p})
	}
	if len(axes) == 0 {
		axes = append(axes, axis{1, make([]bool, len(ops))})
	}
	b := bcast{stride: make([][]int, len(ops)), step: make([]int, len(ops))}
	last := axes[len(axes)-1]
	b.inner = last.size
	for k := range ops {
		if last.present[k] {
			b.step[k] = 1
		}
	}
	for _, a := range axes[:len(axes)-1] {
		b.outer = append(b.outer, a.size)
	}
	for k := range ops {
		b.stride[k] = make([]int, len(b.outer))
		s := b.step[k] * b.inner
		if s == 0 {
			s = 1
		}
		for i := len(axes) - 2; i >= 0; i-- {
			if axes[i].present[k] {
				b.stride[k][i] = s
				s *= axes[i].size
			}
		}
	}
	return b
}

func equalBools(a, b []bool) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// rows is the number of inner rows.
func (b *bcast) rows() int {
	r := 1
	for _, n := range b.outer {
		r *= n
	}
	return r
}

// offset is where row r of operand k starts.
func (b *bcast) offset(k, r int) int {
	off := 0
	for i := len(b.outer) - 1; i >= 0; i-- {
		off += (r % b.outer[i]) * b.stride[k][i]
		r /= b.outer[i]
	}
	return off
}
