//go:build gpu

package nn

import (
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/gpu"
)

func (o *binary) ScratchGPU([]tensor.Shape) int { return 0 }

func (o *binary) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	d, err := view4(c.Out.Shape)
	if err != nil {
		return nil, err
	}
	sa, err := strides4(c.In[0].Shape, c.Out.Shape)
	if err != nil {
		return nil, err
	}
	sb, err := strides4(c.In[1].Shape, c.Out.Shape)
	if err != nil {
		return nil, err
	}
	n := c.Out.Size()
	return launch1(b, "binary", n, c.Out.Ptr, c.In[0].Ptr, c.In[1].Ptr, n, int(o.kind),
		d[1], d[2], d[3], sa[0], sa[1], sa[2], sa[3], sb[0], sb[1], sb[2], sb[3]), nil
}

func (o *scale) ScratchGPU([]tensor.Shape) int { return 0 }

func (o *scale) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	n := c.Out.Size()
	return launch1(b, "scale", n, c.Out.Ptr, c.In[0].Ptr, n, float32(o.factor)), nil
}
