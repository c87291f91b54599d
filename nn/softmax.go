package nn

import (
	"fmt"

	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/internal/par"
)

// softmax is y = exp(x) / sum(exp(x)) over the last axis.
type softmax struct{ base }

// Softmax normalises x over its last axis.
func Softmax(x *gorgonia.Node) (*gorgonia.Node, error) {
	if x.Shape().Dims() < 1 {
		return nil, fmt.Errorf("Softmax: x has shape %v, want at least one axis", x.Shape())
	}
	return apply(&softmax{newBase("Softmax", x.Shape(), x)}, x)
}

func (o *softmax) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *softmax) InPlace() int                                   { return 0 }
func (o *softmax) BindCPU(c *engine.Call[float32]) func()         { return bindSoftmax(c) }
func (o *softmax) bind64(c *engine.Call[float64]) func()          { return bindSoftmax(c) }

func bindSoftmax[T engine.Float](c *engine.Call[T]) func() {
	y, x := c.Out.Data, c.In[0].Data
	s := c.In[0].Shape
	n := s[s.Dims()-1]
	body := func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, yr := x[r*n:(r+1)*n], y[r*n:(r+1)*n]
			// Subtracting the row's maximum keeps exp from overflowing
			// and leaves the result unchanged.
			mx := xr[0]
			for _, v := range xr {
				mx = max(mx, v)
			}
			var sum float64
			for i, v := range xr {
				e := exp(v - mx)
				yr[i] = e
				sum += float64(e)
			}
			inv := T(1 / sum)
			for i := range yr {
				yr[i] *= inv
			}
		}
	}
	rows := len(y) / n
	return func() { par.For(rows, max(1, grain/n), body) }
}

func (o *softmax) SymDiff(in gorgonia.Nodes, y, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := forgetDerivs(in); err != nil {
		return nil, err
	}
	g, err := apply(&softmaxGrad{gradOf("SoftmaxGrad", y.Shape(), y, grad)}, y, grad)
	return gorgonia.Nodes{g}, err
}

// softmaxGrad is dx = y * (g - sum(g*y)) per row, from (y, grad).
type softmaxGrad struct{ gradBase }

func (o *softmaxGrad) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *softmaxGrad) InPlace() int                                   { return 1 }
func (o *softmaxGrad) BindCPU(c *engine.Call[float32]) func()         { return bindSoftmaxGrad(c) }
func (o *softmaxGrad) bind64(c *engine.Call[float64]) func()          { return bindSoftmaxGrad(c) }

func bindSoftmaxGrad[T engine.Float](c *engine.Call[T]) func() {
	dx, y, g := c.Out.Data, c.In[0].Data, c.In[1].Data
	s := c.Out.Shape
	n := s[s.Dims()-1]
	body := func(lo, hi int) {
		for r := lo; r < hi; r++ {
			yr, gr, dr := y[r*n:(r+1)*n], g[r*n:(r+1)*n], dx[r*n:(r+1)*n]
			var dot float64
			for i := range yr {
				dot += float64(yr[i] * gr[i])
			}
			d := T(dot)
			for i := range dr {
				dr[i] = yr[i] * (gr[i] - d)
			}
		}
	}
	rows := len(dx) / n
	return func() { par.For(rows, max(1, grain/n), body) }
}
