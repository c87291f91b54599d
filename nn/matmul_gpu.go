//go:build gpu

package nn

import (
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/gpu"
)

func (o *matMul) ScratchGPU([]tensor.Shape) int { return 0 }

// BindGPU is one strided-batched GEMM.
func (o *matMul) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	m := newMatDims(c.In[0].Shape, c.In[1].Shape, o.transA, o.transB)
	lda, ldb := m.k, m.n
	if o.transA {
		lda = m.m
	}
	if o.transB {
		ldb = m.k
	}
	out, x, y, d := c.Out.Ptr, c.In[0].Ptr, c.In[1].Ptr, b.D
	return func() error {
		return d.Gemm(o.transA, o.transB, m.m, m.n, m.k, 1, x, lda, m.m*m.k, y, ldb, m.k*m.n, 0, out, m.n, m.m*m.n, m.batch)
	}, nil
}
