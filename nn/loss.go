package nn

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/internal/par"
)

// mse is the scalar mean((a-b)^2) over all elements.
type mse struct{ base }

// MSE is the mean squared difference of a and b, which have the same shape.
func MSE(a, b *gorgonia.Node) (*gorgonia.Node, error) {
	as, bs := a.Shape(), b.Shape()
	if as.Dims() != bs.Dims() || !as.Eq(bs) {
		return nil, fmt.Errorf("MSE: shapes %v and %v differ", as, bs)
	}
	return apply(&mse{newBase("MSE", tensor.ScalarShape(), a, b)}, a, b)
}

func (o *mse) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *mse) BindCPU(c *engine.Call[float32]) func()         { return bindMSE(c) }
func (o *mse) bind64(c *engine.Call[float64]) func()          { return bindMSE(c) }

func bindMSE[T engine.Float](c *engine.Call[T]) func() {
	out, a, b := c.Out.Data, c.In[0].Data, c.In[1].Data
	return blockMean(out, len(a), grain, func(i int) float64 {
		d := float64(a[i]) - float64(b[i])
		return d * d
	})
}

// blockMean returns a kernel that writes into out[0] the mean of term(i)
// over i < n. The terms are summed in float64 over fixed blocks of per
// terms whose partial sums are then added in order, so that the result
// does not depend on the number of cores.
func blockMean[T engine.Float](out []T, n, per int, term func(i int) float64) func() {
	partial := make([]float64, (n+per-1)/per)
	body := func(lo, hi int) {
		for blk := lo; blk < hi; blk++ {
			var acc float64
			for i := blk * per; i < min((blk+1)*per, n); i++ {
				acc += term(i)
			}
			partial[blk] = acc
		}
	}
	return func() {
		par.For(len(partial), 1, body)
		var sum float64
		for _, s := range partial {
			sum += s
		}
		out[0] = T(sum / float64(n))
	}
}

func (o *mse) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := forgetDerivs(in); err != nil {
		return nil, err
	}
	a, b := in[0], in[1]
	da, err := apply(&mseGrad{gradOf("MSEGrad", a.Shape(), a, b, grad)}, a, b, grad)
	if err != nil {
		return nil, err
	}
	db, err := Scale(da, -1)
	return gorgonia.Nodes{da, db}, err
}

// mseGrad is da = 2(a-b)/n * g from (a, b, g), g a scalar.
type mseGrad struct{ gradBase }

func (o *mseGrad) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *mseGrad) InPlace() int                                   { return 0 }
func (o *mseGrad) BindCPU(c *engine.Call[float32]) func()         { return bindMSEGrad(c) }
func (o *mseGrad) bind64(c *engine.Call[float64]) func()          { return bindMSEGrad(c) }

func bindMSEGrad[T engine.Float](c *engine.Call[T]) func() {
	da, a, b, g := c.Out.Data, c.In[0].Data, c.In[1].Data, c.In[2].Data
	n := len(a)
	var f T // read from g each run
	body := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			da[i] = f * (a[i] - b[i])
		}
	}
	return func() {
		f = T(2 * float64(g[0]) / float64(n))
		par.For(n, grain, body)
	}
}
