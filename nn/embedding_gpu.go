//go:build gpu

package nn

import (
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/gpu"
)

func (o *sinusoidal) ScratchGPU([]tensor.Shape) int { return 0 }

func (o *sinusoidal) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	batch := c.In[0].Shape[0]
	return launch1(b, "sinusoidal_fwd", batch*(o.dim/2), c.Out.Ptr, c.In[0].Ptr, batch, o.dim, o.scale), nil
}

func (o *sinusoidalGrad) ScratchGPU([]tensor.Shape) int { return 0 }

// BindGPU launches a block per sample.
func (o *sinusoidalGrad) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	batch, d := c.In[0].Shape[0], b.D
	args := []any{c.Out.Ptr, c.In[0].Ptr, c.In[1].Ptr, o.dim, o.scale}
	return func() error { return d.Launch("sinusoidal_bwd", batch, gpu.Threads, args...) }, nil
}
