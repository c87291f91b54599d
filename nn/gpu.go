//go:build gpu

package nn

import "github.com/scoregen/scoregen/gpu"

// Each op's CUDA launcher sits in <family>_gpu.go beside its CPU kernel;
// the kernels are in kernels/<family>.cu. This file holds what they share.

// Every op that has a CPU kernel has a CUDA one.
var (
	_ gpu.Op = (*activation)(nil)
	_ gpu.Op = (*activationGrad)(nil)
	_ gpu.Op = (*activationGrad2)(nil)
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
	_ gpu.Op = (*batchNorm)(nil)
	_ gpu.Op = (*batchNormGrad)(nil)
	_ gpu.Op = (*channelMoments)(nil)
	_ gpu.Op = (*batchNormInference)(nil)
	_ gpu.Op = (*softmax)(nil)
	_ gpu.Op = (*softmaxGrad)(nil)
	_ gpu.Op = (*concat)(nil)
	_ gpu.Op = (*split)(nil)
	_ gpu.Op = (*splitGrad)(nil)
	_ gpu.Op = (*upsample)(nil)
	_ gpu.Op = (*upsampleGrad)(nil)
	_ gpu.Op = (*dropout)(nil)
	_ gpu.Op = (*dropoutGrad)(nil)
	_ gpu.Op = (*normalLike)(nil)
	_ gpu.Op = (*bernoulli)(nil)
	_ gpu.Op = (*sinusoidal)(nil)
	_ gpu.Op = (*sinusoidalGrad)(nil)
	_ gpu.Op = (*softmaxCE)(nil)
	_ gpu.Op = (*softmaxCEGrad)(nil)
	_ gpu.Op = (*accuracy)(nil)
	_ gpu.Op = (*mse)(nil)
	_ gpu.Op = (*mseGrad)(nil)
	_ gpu.Op = (*pseudoHuber)(nil)
	_ gpu.Op = (*pseudoHuberGrad)(nil)
	_ gpu.Op = (*reshape)(nil)
)

// launch1 binds a grid-stride kernel over n elements.
func launch1(b *gpu.Backend, name string, n int, args ...any) func() error {
	d := b.D
	return func() error { return d.Launch(name, d.Grid(n), gpu.Threads, args...) }
}
