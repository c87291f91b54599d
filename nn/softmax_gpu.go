//go:build gpu

package nn

import (
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/gpu"
)

// softmaxRows is the number of rows and their length: softmax runs over the
// last axis.
func softmaxRows(s tensor.Shape) (rows, n int) {
	n = s[s.Dims()-1]
	return s.TotalSize() / n, n
}

func (o *softmax) ScratchGPU([]tensor.Shape) int { return 0 }

// BindGPU launches a block per row.
func (o *softmax) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	rows, n := softmaxRows(c.In[0].Shape)
	y, x, d := c.Out.Ptr, c.In[0].Ptr, b.D
	return func() error { return d.Launch("softmax_fwd", rows, softmaxThreads(n), y, x, n) }, nil
}

func (o *softmaxGrad) ScratchGPU([]tensor.Shape) int { return 0 }

func (o *softmaxGrad) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	rows, n := softmaxRows(c.Out.Shape)
	dx, y, g, d := c.Out.Ptr, c.In[0].Ptr, c.In[1].Ptr, b.D
	return func() error { return d.Launch("softmax_bwd", rows, softmaxThreads(n), dx, y, g, n) }, nil
}

// softmaxThreads fits the block to short rows (attention over 8x8 pixels
// has rows of 64): a multiple of 32, at most gpu.Threads.
func softmaxThreads(n int) int { return min(gpu.Threads, (n+31)/32*32) }
