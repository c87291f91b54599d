//go:build gpu

package nn

import (
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/gpu"
)

var (
	_ gpu.Op = (*discLogisticNLL)(nil)
	_ gpu.Op = (*discLogisticGrad)(nil)
)

func (o *discLogisticNLL) ScratchGPU([]tensor.Shape) int { return 0 }

func (o *discLogisticNLL) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	n := c.Out.Size()
	return launch1(b, "disc_logistic_fwd", n, c.Out.Ptr, c.In[0].Ptr, c.In[1].Ptr, c.In[2].Ptr, n), nil
}

func (o *discLogisticGrad) ScratchGPU([]tensor.Shape) int { return 0 }

func (o *discLogisticGrad) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	n := c.Out.Size()
	return launch1(b, "disc_logistic_bwd", n, c.Out.Ptr, c.In[0].Ptr, c.In[1].Ptr, c.In[2].Ptr, c.In[3].Ptr, n, o.wrt), nil
}
