package nn

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/engine"
)

// matMul is c = op(a) op(b), where op transposes the last two axes when its
// flag is set; 3-D operands are a batch of independent products.
type matMul struct {
	base
	transA, transB bool
}

// matDims are the sizes of one product: op(a) is m x k, op(b) is k x n.
type matDims struct{ batch, m, n, k int }

func newMatDims(a, b tensor.Shape, transA, transB bool) matDims {
	r := a.Dims()
	d := matDims{batch: 1, m: a[r-2], k: a[r-1], n: b[r-1]}
	if transA {
		d.m, d.k = d.k, d.m
	}
	if transB {
		d.n = b[r-2]
	}
	if r == 3 {
		d.batch = a[0]
	}
	return d
}

// MatMul multiplies [M,K] by [K,N], or a batch [B,M,K] by [B,K,N]; transA
// and transB mean that a is stored as [.., K,M] and b as [.., N,K].
func MatMul(a, b *gorgonia.Node, transA, transB bool) (*gorgonia.Node, error) {
	as, bs := a.Shape(), b.Shape()
	r := as.Dims()
	if r != bs.Dims() || (r != 2 && r != 3) {
		return nil, fmt.Errorf("MatMul: operands %v and %v must both be 2-D or both 3-D", as, bs)
	}
	if r == 3 && as[0] != bs[0] {
		return nil, fmt.Errorf("MatMul: batch sizes of %v and %v differ", as, bs)
	}
	d := newMatDims(as, bs, transA, transB)
	kb := bs[r-2]
	if transB {
		kb = bs[r-1]
	}
	if d.k != kb {
		return nil, fmt.Errorf("MatMul: inner sizes of %v (transA=%v) and %v (transB=%v) differ: %d and %d", as, transA, bs, transB, d.k, kb)
	}
	out := tensor.Shape{d.m, d.n}
	if r == 3 {
		out = tensor.Shape{d.batch, d.m, d.n}
	}
	name := fmt.Sprintf("MatMul(%v,%v)", transA, transB)
	return apply(&matMul{base: newBase(name, out, a, b), transA: transA, transB: transB}, a, b)
}

func (o *matMul) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *matMul) BindCPU(c *engine.Call[float32]) func()         { return bindMatMul(o, c) }
func (o *matMul) bind64(c *engine.Call[float64]) func()          { return bindMatMul(o, c) }

func (o *matMul) Library(bool) string { return gemmLibrary }

func (o *matMul) Flops(in []tensor.Shape) float64 {
	d := newMatDims(in[0], in[1], o.transA, o.transB)
	return 2 * float64(d.batch*d.m*d.n*d.k)
}

func bindMatMul[T engine.Float](o *matMul, c *engine.Call[T]) func() {
	d := newMatDims(c.In[0].Shape, c.In[1].Shape, o.transA, o.transB)
	out, a, b := c.Out.Data, c.In[0].Data, c.In[1].Data
	// Leading dimensions are the stored row lengths.
	lda, ldb := d.k, d.n
	if o.transA {
		lda = d.m
	}
	if o.transB {
		ldb = d.k
	}
	sa, sb, sc := d.m*d.k, d.k*d.n, d.m*d.n
	return func() {
		for i := range d.batch {
			gemm(o.transA, o.transB, d.m, d.n, d.k, 1, a[i*sa:], lda, b[i*sb:], ldb, 0, out[i*sc:], d.n)
		}
	}
}

// SymDiff: with g = dc, for c = a b the gradients are da = g b^T and
// db = a^T g; the transposed cases follow by transposing those.
func (o *matMul) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := forgetDerivs(in); err != nil {
		return nil, err
	}
	a, b := in[0], in[1]
	var da, db *gorgonia.Node
	var err error
	switch {
	case !o.transA && !o.transB: // c = a b
		if da, err = MatMul(grad, b, false, true); err == nil {
			db, err = MatMul(a, grad, true, false)
		}
	case !o.transA && o.transB: // c = a b^T
		if da, err = MatMul(grad, b, false, false); err == nil {
			db, err = MatMul(grad, a, true, false)
		}
	case o.transA && !o.transB: // c = a^T b
		if da, err = MatMul(b, grad, false, true); err == nil {
			db, err = MatMul(a, grad, false, false)
		}
	default: // c = a^T b^T
		if da, err = MatMul(b, grad, true, true); err == nil {
			db, err = MatMul(grad, a, true, true)
		}
	}
	return gorgonia.Nodes{da, db}, err
}
