package nn

import (
	"fmt"

	"gorgonia.org/tensor"
)

// The arguments that the CUDA launchers (<family>_gpu.go) compute from
// shapes. They need no GPU, so they live here, where the CPU tests check
// them by running the kernels on the CPU (kernels/hostemu).

// view4 pads a shape to four axes on the left; the kernels index at most
// four.
func view4(s tensor.Shape) ([4]int, error) {
	v := [4]int{1, 1, 1, 1}
	if s.Dims() > 4 {
		return v, fmt.Errorf("shape %v has more than 4 axes, which the CUDA kernels do not index", s)
	}
	copy(v[4-s.Dims():], s)
	return v, nil
}

// strides4 are the row-major element strides of s's four-axis view, with 0
// along the axes where s has size 1 and full does not (broadcast).
func strides4(s, full tensor.Shape) ([4]int, error) {
	v, err := view4(s)
	if err != nil {
		return v, err
	}
	f, err := view4(full)
	if err != nil {
		return v, err
	}
	var st [4]int
	step := 1
	for i := 3; i >= 0; i-- {
		if v[i] != 1 || f[i] == 1 {
			st[i] = step
		}
		step *= v[i]
	}
	return st, nil
}

// reduceAxes are reduce_to's axis arguments (k1..k3, ks0..ks3, r1..r3,
// rs0..rs3) for summing x to `to` (keepDims form), and the number of
// elements each output sums: x's axes split into kept and reduced ones,
// each list padded on the left to four (size 1, stride 0).
func reduceAxes(xs, to tensor.Shape) (axes [14]int, rn int, err error) {
	x, err := view4(xs)
	if err != nil {
		return axes, 0, err
	}
	t, err := view4(to)
	if err != nil {
		return axes, 0, err
	}
	kept, red := [2][4]int{{1, 1, 1, 1}}, [2][4]int{{1, 1, 1, 1}}
	nk, nr, stride := 3, 3, 1
	rn = 1
	for i := 3; i >= 0; i-- {
		switch {
		case x[i] == 1:
		case t[i] == x[i]:
			kept[0][nk], kept[1][nk] = x[i], stride
			nk--
		default:
			red[0][nr], red[1][nr] = x[i], stride
			rn *= x[i]
			nr--
		}
		stride *= x[i]
	}
	axes = [14]int{kept[0][1], kept[0][2], kept[0][3], kept[1][0], kept[1][1], kept[1][2], kept[1][3],
		red[0][1], red[0][2], red[0][3], red[1][0], red[1][1], red[1][2], red[1][3]}
	return axes, rn, nil
}
