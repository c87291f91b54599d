//go:build gpu

package nn

import (
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/gpu"
)

func (o *softmaxCE) ScratchGPU([]tensor.Shape) int { return 0 }

// BindGPU sums in one block of 1024 threads, as MSE: the loss is one
// number per step, and a fixed order keeps it repeatable.
func (o *softmaxCE) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	s, d := c.In[0].Shape, b.D
	args := []any{c.Out.Ptr, c.In[0].Ptr, c.In[1].Ptr, s[0], s[1]}
	return func() error { return d.Launch("softmax_ce_fwd", 1, 1024, args...) }, nil
}

func (o *softmaxCEGrad) ScratchGPU([]tensor.Shape) int { return 0 }

// BindGPU runs a thread per row.
func (o *softmaxCEGrad) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	s := c.Out.Shape
	return launch1(b, "softmax_ce_bwd", s[0], c.Out.Ptr, c.In[0].Ptr, c.In[1].Ptr, c.In[2].Ptr, s[0], s[1], o.wrt), nil
}

func (o *accuracy) ScratchGPU([]tensor.Shape) int { return 0 }

// BindGPU counts in one block, as the cross-entropy sums.
func (o *accuracy) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	s, d := c.In[0].Shape, b.D
	args := []any{c.Out.Ptr, c.In[0].Ptr, c.In[1].Ptr, s[0], s[1]}
	return func() error { return d.Launch("accuracy", 1, 1024, args...) }, nil
}
