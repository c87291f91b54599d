//go:build gpu

package nn

import (
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/gpu"
)

func (o *batchNorm) ScratchGPU([]tensor.Shape) int          { return 0 }
func (o *batchNormGrad) ScratchGPU([]tensor.Shape) int      { return 0 }
func (o *channelMoments) ScratchGPU([]tensor.Shape) int     { return 0 }
func (o *batchNormInference) ScratchGPU([]tensor.Shape) int { return 0 }

// BindGPU launches a block per channel.
func (o *batchNorm) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	l, d := bnLayoutOf(c.In[0].Shape), b.D
	args := []any{c.Out.Ptr, c.In[0].Ptr, c.In[1].Ptr, c.In[2].Ptr, l.n, l.c, l.s, o.eps}
	return func() error { return d.Launch("bn_fwd", l.c, gpu.Threads, args...) }, nil
}

func (o *batchNormGrad) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	l, d := bnLayoutOf(c.In[0].Shape), b.D
	x, gamma, dy := c.In[0].Ptr, c.In[1].Ptr, c.In[2].Ptr
	if o.wrt == 0 {
		args := []any{c.Out.Ptr, x, gamma, dy, l.n, l.c, l.s, o.eps}
		return func() error { return d.Launch("bn_bwd_x", l.c, gpu.Threads, args...) }, nil
	}
	args := []any{c.Out.Ptr, x, dy, l.n, l.c, l.s, o.eps}
	return func() error { return d.Launch("bn_bwd_affine", l.c, gpu.Threads, args...) }, nil
}

func (o *channelMoments) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	l, d := bnLayoutOf(c.In[0].Shape), b.D
	args := []any{c.Out.Ptr, c.In[0].Ptr, l.n, l.c, l.s}
	return func() error { return d.Launch("bn_moments", l.c, gpu.Threads, args...) }, nil
}

func (o *batchNormInference) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	l, n := bnLayoutOf(c.In[0].Shape), c.Out.Size()
	return launch1(b, "bn_infer", n, c.Out.Ptr, c.In[0].Ptr, c.In[1].Ptr, c.In[2].Ptr, c.In[3].Ptr, c.In[4].Ptr, n, l.c, l.s, o.eps), nil
}
