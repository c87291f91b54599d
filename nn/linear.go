package nn

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/internal/par"
)

// linear is y = x w^T + b, with w stored [out, in] as in PyTorch.
type linear struct{ base }

// Linear maps x [B,in] to [B,out] with weight w [out,in] and bias b [out]
// (b may be nil).
func Linear(x, w, b *gorgonia.Node) (*gorgonia.Node, error) {
	xs, ws := x.Shape(), w.Shape()
	if xs.Dims() != 2 || ws.Dims() != 2 || xs[1] != ws[1] {
		return nil, fmt.Errorf("Linear: input %v does not match weight %v (want [B,in] and [out,in])", xs, ws)
	}
	in := []*gorgonia.Node{x, w}
	if b != nil {
		if bs := b.Shape(); bs.Dims() != 1 || bs[0] != ws[0] {
			return nil, fmt.Errorf("Linear: bias %v does not match the %d outputs of weight %v", bs, ws[0], ws)
		}
		in = append(in, b)
	}
	return apply(&linear{newBase("Linear", tensor.Shape{xs[0], ws[0]}, in...)}, in...)
}

func (o *linear) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *linear) BindCPU(c *engine.Call[float32]) func()         { return bindLinear(c) }
func (o *linear) bind64(c *engine.Call[float64]) func()          { return bindLinear(c) }

func (o *linear) Library(bool) string { return gemmLibrary }

func (o *linear) Flops(in []tensor.Shape) float64 {
	return 2 * float64(in[0][0]*in[0][1]*in[1][0])
}

// bindLinear computes y = x w^T + b as one product, or, with
// c.BatchInvariant, one product per row: OpenBLAS rounds a row of a product
// differently with the number of rows (its kernels block them), so a row
// would depend on the size of its batch.
func bindLinear[T engine.Float](c *engine.Call[T]) func() {
	y, x, w := c.Out.Data, c.In[0].Data, c.In[1].Data
	rows, nin, nout := c.In[0].Shape[0], c.In[0].Shape[1], c.In[1].Shape[0]
	var b []T
	beta := T(0)
	if len(c.In) == 3 {
		b, beta = c.In[2].Data, 1 // each row of y starts as the bias; the product adds x w^T
	}
	fill := func(lo, hi int) {
		for r := lo; r < hi; r++ {
			copy(y[r*nout:(r+1)*nout], b)
		}
	}
	if c.BatchInvariant {
		byRow := func(lo, hi int) {
			fill(lo, hi)
			for r := lo; r < hi; r++ {
				gemm(false, true, 1, nout, nin, 1, x[r*nin:(r+1)*nin], nin, w, nin, beta, y[r*nout:(r+1)*nout], nout)
			}
		}
		return func() { par.For(rows, max(1, grain/(nin*nout)), byRow) }
	}
	return func() {
		if b != nil {
			par.For(rows, max(1, grain/nout), fill)
		}
		gemm(false, true, rows, nout, nin, 1, x, nin, w, nin, beta, y, nout)
	}
}

func (o *linear) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := forgetDerivs(in); err != nil {
		return nil, err
	}
	x, w := in[0], in[1]
	dx, err := MatMul(grad, w, false, false) // [B,out] x [out,in]
	if err != nil {
		return nil, err
	}
	dw, err := MatMul(grad, x, true, false) // [out,B] x [B,in]
	if err != nil {
		return nil, err
	}
	if len(in) == 2 {
		return gorgonia.Nodes{dx, dw}, nil
	}
	db, err := biasGrad(grad)
	return gorgonia.Nodes{dx, dw, db}, err
}
