package nn

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/internal/par"
)

// reduceTo sums x over the axes where shape `to` has size 1 (or over all of
// x when `to` is a scalar) and multiplies by factor: Sum, Mean, and the
// gradient of a broadcast.
type reduceTo struct {
	base
	factor float64
}

// keepDims is `to` for x's rank: a scalar target becomes all ones.
func keepDims(x, to tensor.Shape) tensor.Shape {
	if to.IsScalar() {
		s := make(tensor.Shape, x.Dims())
		for i := range s {
			s[i] = 1
		}
		return s
	}
	return to
}

func checkReducible(x, to tensor.Shape) error {
	if to.IsScalar() {
		return nil
	}
	if got, err := broadcastShape(x, to); err != nil || !got.Eq(x) {
		return fmt.Errorf("cannot reduce shape %v to %v", x, to)
	}
	return nil
}

// SumTo sums x down to shape `to`, which has x's rank with 1 on the summed
// axes, or is a scalar shape to sum everything. When `to` is x's shape, x is
// returned unchanged.
func SumTo(x *gorgonia.Node, to tensor.Shape) (*gorgonia.Node, error) {
	return reduce(x, to, 1)
}

// biasGrad is the gradient of a per-channel bias added to [N, C, ...]: grad
// summed over every axis but the channel axis, as shape [C].
func biasGrad(grad *gorgonia.Node) (*gorgonia.Node, error) {
	s := grad.Shape()
	to := make(tensor.Shape, s.Dims())
	for i := range to {
		to[i] = 1
	}
	to[1] = s[1]
	db, err := SumTo(grad, to)
	if err != nil {
		return nil, err
	}
	return Reshape(db, tensor.Shape{s[1]})
}

// Sum is the sum of all elements of x.
func Sum(x *gorgonia.Node) (*gorgonia.Node, error) { return reduce(x, tensor.ScalarShape(), 1) }

// Mean is the mean of all elements of x.
func Mean(x *gorgonia.Node) (*gorgonia.Node, error) {
	return reduce(x, tensor.ScalarShape(), 1/float64(x.Shape().TotalSize()))
}

func reduce(x *gorgonia.Node, to tensor.Shape, factor float64) (*gorgonia.Node, error) {
	if err := checkReducible(x.Shape(), to); err != nil {
		return nil, err
	}
	if to.Eq(x.Shape()) && factor == 1 {
		return x, nil
	}
	return apply(&reduceTo{base: newBase("ReduceTo("+fmtFloat(factor)+")", to.Clone(), x), factor: factor}, x)
}

func (o *reduceTo) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *reduceTo) BindCPU(c *engine.Call[float32]) func()         { return bindReduce(o, c) }
func (o *reduceTo) bind64(c *engine.Call[float64]) func()          { return bindReduce(o, c) }

func bindReduce[T engine.Float](o *reduceTo, c *engine.Call[T]) func() {
	out, x := c.Out.Data, c.In[0].Data
	b := newBcast(c.In[0].Shape, c.In[0].Shape, keepDims(c.In[0].Shape, c.Out.Shape))
	n, f := b.inner, T(o.factor)
	rows := b.rows()
	if b.step[1] == 0 {
		// Each row sums into one output element. Rows that share an
		// element would race, so this runs on one core; it is a small
		// share of a step (bias and embedding gradients).
		return func() {
			clear(out)
			for r := range rows {
				xr := x[r*n : (r+1)*n]
				var acc T
				for _, v := range xr {
					acc += v
				}
				out[b.offset(1, r)] += f * acc
			}
		}
	}
	return func() {
		clear(out)
		for r := range rows {
			xr, or := x[r*n:(r+1)*n], out[b.offset(1, r):]
			for i, v := range xr {
				or[i] += f * v
			}
		}
	}
}

func (o *reduceTo) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := forgetDerivs(in); err != nil {
		return nil, err
	}
	g, err := expand(grad, in[0].Shape(), o.factor)
	return gorgonia.Nodes{g}, err
}

// expandTo broadcasts x to a larger shape and multiplies by factor: the
// gradient of reduceTo.
type expandTo struct {
	base
	factor float64
}

func expand(x *gorgonia.Node, to tensor.Shape, factor float64) (*gorgonia.Node, error) {
	if err := checkReducible(to, x.Shape()); err != nil {
		return nil, err
	}
	return apply(&expandTo{base: newBase("ExpandTo("+fmtFloat(factor)+")", to.Clone(), x), factor: factor}, x)
}

func (o *expandTo) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *expandTo) BindCPU(c *engine.Call[float32]) func()         { return bindExpand(o, c) }
func (o *expandTo) bind64(c *engine.Call[float64]) func()          { return bindExpand(o, c) }

func bindExpand[T engine.Float](o *expandTo, c *engine.Call[T]) func() {
	out, x := c.Out.Data, c.In[0].Data
	b := newBcast(c.Out.Shape, c.Out.Shape, keepDims(c.Out.Shape, c.In[0].Shape))
	n, s, f := b.inner, b.step[1], T(o.factor)
	body := func(lo, hi int) {
		for r := lo; r < hi; r++ {
			or, xr := out[r*n:(r+1)*n], x[b.offset(1, r):]
			for i := range or {
				or[i] = f * xr[i*s]
			}
		}
	}
	rows := b.rows()
	return func() { par.For(rows, max(1, grain/n), body) }
}

func (o *expandTo) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := forgetDerivs(in); err != nil {
		return nil, err
	}
	g, err := reduce(grad, in[0].Shape(), o.factor)
	return gorgonia.Nodes{g}, err
}
