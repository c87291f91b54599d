//go:build gpu

package nn

import (
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/gpu"
)

func (o *groupNorm) ScratchGPU([]tensor.Shape) int { return 0 }

// BindGPU launches a block per (sample, group).
func (o *groupNorm) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	l, d := gnLayoutOf(c.In[0].Shape, o.groups), b.D
	args := []any{c.Out.Ptr, c.In[0].Ptr, c.In[1].Ptr, c.In[2].Ptr, l.g, l.d, l.s, o.eps, int(o.act)}
	return func() error { return d.Launch("gn_fwd", l.n*l.g, gpu.Threads, args...) }, nil
}

// ScratchGPU holds the affine gradient's (mean, rstd) per (sample, group).
func (o *groupNormGrad) ScratchGPU(in []tensor.Shape) int {
	if o.wrt == 0 {
		return 0
	}
	l := gnLayoutOf(in[0], o.groups)
	return 2 * l.n * l.g
}

func (o *groupNormGrad) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	l, d := gnLayoutOf(c.In[0].Shape, o.groups), b.D
	x, gamma, beta, dy := c.In[0].Ptr, c.In[1].Ptr, c.In[2].Ptr, c.In[3].Ptr
	if o.wrt == 0 {
		args := []any{c.Out.Ptr, x, gamma, beta, dy, l.g, l.d, l.s, o.eps, int(o.act)}
		return func() error { return d.Launch("gn_bwd_x", l.n*l.g, gpu.Threads, args...) }, nil
	}
	stats := c.Scratch
	return func() error {
		if err := d.Launch("gn_stats", l.n*l.g, gpu.Threads, stats, x, l.d, l.s, o.eps); err != nil {
			return err
		}
		return d.Launch("gn_bwd_affine", l.c, gpu.Threads, c.Out.Ptr, x, gamma, beta, dy, stats, l.n, l.c, l.g, l.s, int(o.act))
	}, nil
}
