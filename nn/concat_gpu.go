//go:build gpu

package nn

import (
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/gpu"
)

func (o *concat) ScratchGPU([]tensor.Shape) int { return 0 }

// BindGPU copies each input's rows (one sample's block) into place.
func (o *concat) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	s, rows, d := channelSize(c.Out.Shape), c.Out.Shape[0], b.D
	outBlock := c.Out.Shape[1] * s
	type part struct {
		src       gpu.Ptr
		size, off int
	}
	parts := make([]part, len(c.In))
	at := 0
	for i, in := range c.In {
		parts[i] = part{in.Ptr, o.chans[i] * s, at}
		at += o.chans[i] * s
	}
	out := c.Out.Ptr
	return func() error {
		for _, p := range parts {
			if err := d.Launch("copy_rows", d.Grid(rows*p.size), gpu.Threads, out, p.src, rows, p.size, outBlock, p.off, p.size, 0); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

func (o *split) ScratchGPU([]tensor.Shape) int { return 0 }

func (o *split) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	s, rows := channelSize(c.In[0].Shape), c.Out.Shape[0]
	inBlock, outBlock, from := c.In[0].Shape[1]*s, (o.to-o.from)*s, o.from*s
	return launch1(b, "copy_rows", rows*outBlock, c.Out.Ptr, c.In[0].Ptr, rows, outBlock, outBlock, 0, inBlock, from), nil
}

func (o *splitGrad) ScratchGPU([]tensor.Shape) int { return 0 }

// BindGPU zeroes dx and copies the gradient into channels [from, to).
func (o *splitGrad) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	s, rows := channelSize(c.Out.Shape), c.Out.Shape[0]
	xBlock, gBlock, from := c.Out.Shape[1]*s, (o.to-o.from)*s, o.from*s
	n := c.Out.Size()
	zero := launch1(b, "fill", n, c.Out.Ptr, n, float32(0))
	place := launch1(b, "copy_rows", rows*gBlock, c.Out.Ptr, c.In[0].Ptr, rows, gBlock, xBlock, from, gBlock, 0)
	return func() error {
		if err := zero(); err != nil {
			return err
		}
		return place()
	}, nil
}

func (o *upsample) ScratchGPU([]tensor.Shape) int { return 0 }

func (o *upsample) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	s := c.In[0].Shape
	return launch1(b, "upsample2x", c.Out.Size(), c.Out.Ptr, c.In[0].Ptr, s[0]*s[1], s[2], s[3]), nil
}

func (o *upsampleGrad) ScratchGPU([]tensor.Shape) int { return 0 }

func (o *upsampleGrad) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	s := c.Out.Shape
	return launch1(b, "upsample2x_bwd", c.Out.Size(), c.Out.Ptr, c.In[0].Ptr, s[0]*s[1], s[2], s[3]), nil
}
