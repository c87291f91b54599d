//go:build gpu

package nn

import (
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/gpu"
)

func (o *linear) ScratchGPU([]tensor.Shape) int { return 0 }

// BindGPU: y = x w^T (+ b, laid down first and accumulated onto).
func (o *linear) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	rows, nin, nout := c.In[0].Shape[0], c.In[0].Shape[1], c.In[1].Shape[0]
	y, x, w := c.Out.Ptr, c.In[0].Ptr, c.In[1].Ptr
	d := b.D
	if len(c.In) == 2 {
		return func() error { return d.Gemm(false, true, rows, nout, nin, 1, x, nin, 0, w, nin, 0, 0, y, nout, 0, 1) }, nil
	}
	bias, n := c.In[2].Ptr, rows*nout
	return func() error {
		if err := d.Launch("bias_rows", d.Grid(n), gpu.Threads, y, bias, n, nout); err != nil {
			return err
		}
		return d.Gemm(false, true, rows, nout, nin, 1, x, nin, 0, w, nin, 0, 1, y, nout, 0, 1)
	}, nil
}
