//go:build gpu

package nn

import (
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/gpu"
)

func (o *normalLike) ScratchGPU([]tensor.Shape) int { return 0 }
func (o *bernoulli) ScratchGPU([]tensor.Shape) int  { return 0 }

// keyPtrs are the device addresses of the RNG's seed and step, which the
// backend refreshes before each run, as the CPU kernels read them each call.
func (k keyed) keyPtrs(b *gpu.Backend) (seed, step gpu.Ptr, err error) {
	if seed, err = b.Uniform(&k.rng.Seed); err != nil {
		return 0, 0, err
	}
	step, err = b.Uniform(&k.rng.Step)
	return seed, step, err
}

func (o *normalLike) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	seed, step, err := o.keyPtrs(b)
	if err != nil {
		return nil, err
	}
	n := c.Out.Size()
	return launch1(b, "normal_like", n, c.Out.Ptr, n, seed, o.stream, step), nil
}

func (o *bernoulli) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	seed, step, err := o.keyPtrs(b)
	if err != nil {
		return nil, err
	}
	n := c.Out.Size()
	return launch1(b, "bernoulli", (n+3)/4, c.Out.Ptr, c.In[0].Ptr, n, seed, o.stream, step), nil
}
