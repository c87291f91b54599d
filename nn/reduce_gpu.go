//go:build gpu

package nn

import (
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/gpu"
)

func (o *reduceTo) ScratchGPU([]tensor.Shape) int { return 0 }

// BindGPU launches one block per output element; the block sums the
// reduced axes.
func (o *reduceTo) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	axes, rn, err := reduceAxes(c.In[0].Shape, keepDims(c.In[0].Shape, c.Out.Shape))
	if err != nil {
		return nil, err
	}
	blocks := c.Out.Size()
	d := b.D
	args := []any{c.Out.Ptr, c.In[0].Ptr, float32(o.factor)}
	for _, a := range axes {
		args = append(args, a)
	}
	args = append(args, rn)
	return func() error { return d.Launch("reduce_to", blocks, gpu.Threads, args...) }, nil
}

func (o *expandTo) ScratchGPU([]tensor.Shape) int { return 0 }

func (o *expandTo) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	d, err := view4(c.Out.Shape)
	if err != nil {
		return nil, err
	}
	s, err := strides4(keepDims(c.Out.Shape, c.In[0].Shape), c.Out.Shape)
	if err != nil {
		return nil, err
	}
	n := c.Out.Size()
	return launch1(b, "expand", n, c.Out.Ptr, c.In[0].Ptr, n, float32(o.factor),
		d[1], d[2], d[3], s[0], s[1], s[2], s[3]), nil
}
