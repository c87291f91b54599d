package nn

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/internal/par"
)

// upsample repeats each pixel of x into a 2x2 block (nearest neighbour).
type upsample struct{ base }

// Upsample2x doubles the height and width of x ([N,C,H,W]).
func Upsample2x(x *gorgonia.Node) (*gorgonia.Node, error) {
	s := x.Shape()
	if s.Dims() != 4 {
		return nil, fmt.Errorf("Upsample2x: x has shape %v, want [N,C,H,W]", s)
	}
	out := tensor.Shape{s[0], s[1], 2 * s[2], 2 * s[3]}
	return apply(&upsample{newBase("Upsample2x", out, x)}, x)
}

func (o *upsample) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *upsample) BindCPU(c *engine.Call[float32]) func()         { return bindUpsample(c) }
func (o *upsample) bind64(c *engine.Call[float64]) func()          { return bindUpsample(c) }

// Input row r (of all N*C*H rows) becomes output rows 2r and 2r+1.
func bindUpsample[T engine.Float](c *engine.Call[T]) func() {
	y, x := c.Out.Data, c.In[0].Data
	w := c.In[0].Shape[3]
	body := func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, y0, y1 := x[r*w:(r+1)*w], y[2*r*2*w:(2*r+1)*2*w], y[(2*r+1)*2*w:(2*r+2)*2*w]
			for j, v := range xr {
				y0[2*j] = v
				y0[2*j+1] = v
			}
			copy(y1, y0)
		}
	}
	rows := len(x) / max(w, 1)
	return func() { par.For(rows, max(1, grain/(4*w)), body) }
}

func (o *upsample) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := forgetDerivs(in); err != nil {
		return nil, err
	}
	x := in[0]
	g, err := apply(&upsampleGrad{gradOf("Upsample2xGrad", x.Shape(), grad)}, grad)
	return gorgonia.Nodes{g}, err
}

// upsampleGrad sums each 2x2 block of grad.
type upsampleGrad struct{ gradBase }

func (o *upsampleGrad) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *upsampleGrad) BindCPU(c *engine.Call[float32]) func()         { return bindUpsampleGrad(c) }
func (o *upsampleGrad) bind64(c *engine.Call[float64]) func()          { return bindUpsampleGrad(c) }

// SymDiff: upsampleGrad is linear in grad, and Upsample2x is its adjoint.
func (o *upsampleGrad) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := forgetDerivs(in); err != nil {
		return nil, err
	}
	g, err := Upsample2x(grad)
	return gorgonia.Nodes{g}, err
}

func bindUpsampleGrad[T engine.Float](c *engine.Call[T]) func() {
	dx, g := c.Out.Data, c.In[0].Data
	w := c.Out.Shape[3]
	body := func(lo, hi int) {
		for r := lo; r < hi; r++ {
			dr, g0, g1 := dx[r*w:(r+1)*w], g[2*r*2*w:(2*r+1)*2*w], g[(2*r+1)*2*w:(2*r+2)*2*w]
			for j := range dr {
				dr[j] = g0[2*j] + g0[2*j+1] + g1[2*j] + g1[2*j+1]
			}
		}
	}
	rows := len(dx) / max(w, 1)
	return func() { par.For(rows, max(1, grain/(4*w)), body) }
}
