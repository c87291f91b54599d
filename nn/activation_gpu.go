//go:build gpu

package nn

import (
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/gpu"
)

func (o *activation) ScratchGPU([]tensor.Shape) int { return 0 }

func (o *activation) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	n := c.Out.Size()
	return launch1(b, "act_fwd", n, c.Out.Ptr, c.In[0].Ptr, n, int(o.act), float32(o.slope)), nil
}

func (o *activationGrad) ScratchGPU([]tensor.Shape) int { return 0 }

func (o *activationGrad) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	n := c.Out.Size()
	return launch1(b, "act_bwd", n, c.Out.Ptr, c.In[0].Ptr, c.In[1].Ptr, n, int(o.act), float32(o.slope)), nil
}

func (o *activationGrad2) ScratchGPU([]tensor.Shape) int { return 0 }

func (o *activationGrad2) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	n := c.Out.Size()
	return launch1(b, "act_bwd2", n, c.Out.Ptr, c.In[0].Ptr, c.In[1].Ptr, c.In[2].Ptr, n, int(o.act), float32(o.slope)), nil
}
