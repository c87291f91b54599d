//go:build gpu

package nn

import (
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/gpu"
)

func (o *mse) ScratchGPU([]tensor.Shape) int { return 0 }

// BindGPU sums in one block of 1024 threads: the loss is one number per
// step, and a fixed order keeps it repeatable.
func (o *mse) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	n, d := c.In[0].Size(), b.D
	args := []any{c.Out.Ptr, c.In[0].Ptr, c.In[1].Ptr, n}
	return func() error { return d.Launch("mse", 1, 1024, args...) }, nil
}

func (o *mseGrad) ScratchGPU([]tensor.Shape) int { return 0 }

func (o *mseGrad) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	n := c.Out.Size()
	return launch1(b, "mse_bwd", n, c.Out.Ptr, c.In[0].Ptr, c.In[1].Ptr, c.In[2].Ptr, n), nil
}

func (o *pseudoHuber) ScratchGPU([]tensor.Shape) int { return 0 }

// BindGPU sums in one block of 1024 threads, sample after sample, as MSE.
func (o *pseudoHuber) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	batch, d := c.In[2].Size(), b.D
	args := []any{c.Out.Ptr, c.In[0].Ptr, c.In[1].Ptr, c.In[2].Ptr, batch, c.In[0].Size() / batch, o.c}
	return func() error { return d.Launch("pseudo_huber", 1, 1024, args...) }, nil
}

func (o *pseudoHuberGrad) ScratchGPU([]tensor.Shape) int { return 0 }

// BindGPU runs a block per sample: its distance, then its gradient.
func (o *pseudoHuberGrad) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	batch, d := c.In[2].Size(), b.D
	args := []any{c.Out.Ptr, c.In[0].Ptr, c.In[1].Ptr, c.In[2].Ptr, c.In[3].Ptr, c.In[0].Size() / batch, o.c, o.wrt}
	return func() error { return d.Launch("pseudo_huber_bwd", batch, gpu.Threads, args...) }, nil
}
