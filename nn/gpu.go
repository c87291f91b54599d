//go:build gpu

package nn

import (
	"fmt"

	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/gpu"
)

// Each op's CUDA launcher sits in <family>_gpu.go beside its CPU kernel;
// the kernels are in kernels/<family>.cu. This file holds what they share.

// Every op that has a CPU kernel has a CUDA one.
var (
	_ gpu.Op = (*activation)(nil)
	_ gpu.Op = (*activationGrad)(nil)
	_ gpu.Op = (*binary)(nil)
	_ gpu.Op = (*scale)(nil)
	_ gpu.Op = (*reduceTo)(nil)
	_ gpu.Op = (*expandTo)(nil)
	_ gpu.Op = (*conv2d)(nil)
	_ gpu.Op = (*conv2dInputGrad)(nil)
	_ gpu.Op = (*conv2dWeightGrad)(nil)
	_ gpu.Op = (*linear)(nil)
	_ gpu.Op = (*matMul)(nil)
	_ gpu.Op = (*groupNorm)(nil)
	_ gpu.Op = (*groupNormGrad)(nil)
	_ gpu.Op = (*softmax)(nil)
	_ gpu.Op = (*softmaxGrad)(nil)
	_ gpu.Op = (*concat)(nil)
	_ gpu.Op = (*split)(nil)
	_ gpu.Op = (*splitGrad)(nil)
	_ gpu.Op = (*upsample)(nil)
	_ gpu.Op = (*upsampleGrad)(nil)
	_ gpu.Op = (*dropout)(nil)
	_ gpu.Op = (*dropoutGrad)(nil)
	_ gpu.Op = (*sinusoidal)(nil)
	_ gpu.Op = (*sinusoidalGrad)(nil)
	_ gpu.Op = (*mse)(nil)
	_ gpu.Op = (*mseGrad)(nil)
	_ gpu.Op = (*reshape)(nil)
)

// launch1 binds a grid-stride kernel over n elements.
func launch1(b *gpu.Backend, name string, n int, args ...any) func() error {
	d := b.D
	return func() error { return d.Launch(name, d.Grid(n), gpu.Threads, args...) }
}

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
