package nn

import (
	"fmt"

	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/internal/par"
)

// BinaryKind names an element-wise arithmetic op.
type BinaryKind int

// The element-wise ops with broadcasting.
const (
	Add BinaryKind = iota
	Sub
	Mul
)

var binaryNames = [...]string{"Add", "Sub", "Mul"}

func (k BinaryKind) String() string { return binaryNames[k] }

// binary is out = a (+|-|*) b, each operand broadcast over axes where it has
// size 1 (batch, channel or spatial).
type binary struct {
	base
	kind    BinaryKind
	inPlace int // an operand as large as the output, or -1
}

// Binary applies kind element-wise to a and b with broadcasting.
func Binary(kind BinaryKind, a, b *gorgonia.Node) (*gorgonia.Node, error) {
	out, err := broadcastShape(a.Shape(), b.Shape())
	if err != nil {
		return nil, fmt.Errorf("%v: %w", kind, err)
	}
	inPlace := -1
	switch {
	case a.Shape().Eq(out):
		inPlace = 0
	case b.Shape().Eq(out):
		inPlace = 1
	}
	return apply(&binary{base: newBase(kind.String(), out, a, b), kind: kind, inPlace: inPlace}, a, b)
}

func (o *binary) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *binary) BindCPU(c *engine.Call[float32]) func()         { return bindBinary(o, c) }
func (o *binary) bind64(c *engine.Call[float64]) func()          { return bindBinary(o, c) }

func (o *binary) InPlace() int { return o.inPlace }

func bindBinary[T engine.Float](o *binary, c *engine.Call[T]) func() {
	b := newBcast(c.Out.Shape, c.In[0].Shape, c.In[1].Shape)
	out, x, y := c.Out.Data, c.In[0].Data, c.In[1].Data
	sx, sy, n := b.step[0], b.step[1], b.inner
	kind := o.kind
	body := func(lo, hi int) {
		for r := lo; r < hi; r++ {
			o, xr, yr := out[r*n:(r+1)*n], x[b.offset(0, r):], y[b.offset(1, r):]
			switch kind {
			case Add:
				for i := range o {
					o[i] = xr[i*sx] + yr[i*sy]
				}
			case Sub:
				for i := range o {
					o[i] = xr[i*sx] - yr[i*sy]
				}
			case Mul:
				for i := range o {
					o[i] = xr[i*sx] * yr[i*sy]
				}
			}
		}
	}
	rows := b.rows()
	return func() { par.For(rows, max(1, grain/n), body) }
}

func (o *binary) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := forgetDerivs(in); err != nil {
		return nil, err
	}
	a, b := in[0], in[1]
	ga, gb := grad, grad
	var err error
	if o.kind == Mul {
		if ga, err = Binary(Mul, grad, b); err != nil {
			return nil, err
		}
		if gb, err = Binary(Mul, grad, a); err != nil {
			return nil, err
		}
	}
	if ga, err = SumTo(ga, a.Shape()); err != nil {
		return nil, err
	}
	if gb, err = SumTo(gb, b.Shape()); err != nil {
		return nil, err
	}
	if o.kind == Sub {
		gb, err = Scale(gb, -1)
	}
	return gorgonia.Nodes{ga, gb}, err
}

// scale is out = factor * x.
type scale struct {
	base
	factor float64
}

// Scale multiplies x by a constant.
func Scale(x *gorgonia.Node, factor float64) (*gorgonia.Node, error) {
	return apply(&scale{base: newBase("Scale("+fmtFloat(factor)+")", x.Shape(), x), factor: factor}, x)
}

func (o *scale) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *scale) InPlace() int                                   { return 0 }
func (o *scale) BindCPU(c *engine.Call[float32]) func()         { return bindScale(o, c) }
func (o *scale) bind64(c *engine.Call[float64]) func()          { return bindScale(o, c) }

func bindScale[T engine.Float](o *scale, c *engine.Call[T]) func() {
	out, x, f := c.Out.Data, c.In[0].Data, T(o.factor)
	body := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i] = f * x[i]
		}
	}
	return func() { par.For(len(out), grain, body) }
}

func (o *scale) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := forgetDerivs(in); err != nil {
		return nil, err
	}
	g, err := Scale(grad, o.factor)
	return gorgonia.Nodes{g}, err
}
