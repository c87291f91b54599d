package nn

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/engine"
)

// reshape gives x a new shape with the same number of elements. In a plan it
// shares its input's buffer when that input dies here, and the copy is then
// skipped.
type reshape struct{ base }

// Reshape returns x with shape `to`.
func Reshape(x *gorgonia.Node, to tensor.Shape) (*gorgonia.Node, error) {
	if x.Shape().TotalSize() != to.TotalSize() {
		return nil, fmt.Errorf("reshape %v to %v: sizes differ", x.Shape(), to)
	}
	return apply(&reshape{newBase("Reshape", to.Clone(), x)}, x)
}

func (o *reshape) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *reshape) InPlace() int                                   { return 0 }
func (o *reshape) BindCPU(c *engine.Call[float32]) func()         { return bindCopy(c) }
func (o *reshape) bind64(c *engine.Call[float64]) func()          { return bindCopy(c) }

func bindCopy[T engine.Float](c *engine.Call[T]) func() {
	out, x := c.Out.Data, c.In[0].Data
	if &out[0] == &x[0] {
		return func() {}
	}
	return func() { copy(out, x) }
}

func (o *reshape) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := forgetDerivs(in); err != nil {
		return nil, err
	}
	g, err := Reshape(grad, in[0].Shape())
	return gorgonia.Nodes{g}, err
}
