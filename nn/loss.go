package nn

import (
	"fmt"
	"math"

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

// pseudoHuber is the scalar batch mean of w_i (sqrt(||a_i - b_i||^2 + c^2)
// - c) over the samples i of a and b.
type pseudoHuber struct {
	base
	c float64
}

// PseudoHuber is improved consistency training's loss (Song and Dhariwal
// 2023, section 3.3): the batch mean of w_i (sqrt(||a_i - b_i||^2 + c^2) -
// c), a and b of one shape whose first axis is the batch, w the samples'
// weights ([batch]), and c > 0. It is ||a_i - b_i||^2 / (2c) near a_i =
// b_i and ||a_i - b_i|| far from it, so that outlying samples pull less
// than in a squared distance.
func PseudoHuber(a, b, w *gorgonia.Node, c float64) (*gorgonia.Node, error) {
	as, bs, ws := a.Shape(), b.Shape(), w.Shape()
	switch {
	case as.Dims() < 1 || !as.Eq(bs):
		return nil, fmt.Errorf("PseudoHuber: shapes %v and %v differ or have no batch axis", as, bs)
	case ws.Dims() != 1 || ws[0] != as[0]:
		return nil, fmt.Errorf("PseudoHuber: weights of shape %v, want (%d) for a batch of %d", ws, as[0], as[0])
	case !(c > 0) || math.IsInf(c, 0):
		return nil, fmt.Errorf("PseudoHuber: c = %v, want a finite number > 0", c)
	}
	return apply(&pseudoHuber{newBase(fmt.Sprintf("PseudoHuber(%g)", c), tensor.ScalarShape(), a, b, w), c}, a, b, w)
}

func (o *pseudoHuber) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *pseudoHuber) BindCPU(c *engine.Call[float32]) func()         { return bindPseudoHuber(o, c) }
func (o *pseudoHuber) bind64(c *engine.Call[float64]) func()          { return bindPseudoHuber(o, c) }

// sampleDistances returns a kernel that writes r[i] = sqrt(||a_i -
// b_i||^2 + c^2) for each of the len(r) samples of a and b, each summed in
// float64 in order, so that the result does not depend on the number of
// cores.
func sampleDistances[T engine.Float](r []float64, a, b []T, c float64) func() {
	d := len(a) / len(r)
	body := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			var s float64
			for j := i * d; j < (i+1)*d; j++ {
				e := float64(a[j]) - float64(b[j])
				s += e * e
			}
			r[i] = math.Sqrt(s + c*c)
		}
	}
	return func() { par.For(len(r), 1, body) }
}

func bindPseudoHuber[T engine.Float](o *pseudoHuber, c *engine.Call[T]) func() {
	out, a, b, w := c.Out.Data, c.In[0].Data, c.In[1].Data, c.In[2].Data
	r := make([]float64, len(w))
	distances := sampleDistances(r, a, b, o.c)
	return func() {
		distances()
		var sum float64
		for i, ri := range r {
			sum += float64(w[i]) * (ri - o.c)
		}
		out[0] = T(sum / float64(len(r)))
	}
}

func (o *pseudoHuber) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := forgetDerivs(in); err != nil {
		return nil, err
	}
	grads := make(gorgonia.Nodes, 3)
	for _, wrt := range []int{0, 2} {
		g, err := apply(&pseudoHuberGrad{gradOf(fmt.Sprintf("PseudoHuberGrad(%g, %d)", o.c, wrt), in[wrt].Shape(), in[0], in[1], in[2], grad), o.c, wrt},
			in[0], in[1], in[2], grad)
		if err != nil {
			return nil, err
		}
		grads[wrt] = g
	}
	var err error
	grads[1], err = Scale(grads[0], -1)
	return grads, err
}

// pseudoHuberGrad is, from (a, b, w, g) with g the loss's gradient (a
// scalar) and r_i = sqrt(||a_i - b_i||^2 + c^2), the gradient by a (wrt 0):
// g/B w_i (a - b) / r_i; or by the weights (wrt 2): g/B (r_i - c).
type pseudoHuberGrad struct {
	gradBase
	c   float64
	wrt int
}

func (o *pseudoHuberGrad) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *pseudoHuberGrad) BindCPU(c *engine.Call[float32]) func()         { return bindPseudoHuberGrad(o, c) }
func (o *pseudoHuberGrad) bind64(c *engine.Call[float64]) func()          { return bindPseudoHuberGrad(o, c) }

func bindPseudoHuberGrad[T engine.Float](o *pseudoHuberGrad, c *engine.Call[T]) func() {
	out, a, b, w, g := c.Out.Data, c.In[0].Data, c.In[1].Data, c.In[2].Data, c.In[3].Data
	batch := len(w)
	r := make([]float64, batch)
	distances := sampleDistances(r, a, b, o.c)
	d := len(a) / batch
	var f float64 // g/B, read from g each run
	body := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			k := f * float64(w[i]) / r[i]
			for j := i * d; j < (i+1)*d; j++ {
				out[j] = T(k * (float64(a[j]) - float64(b[j])))
			}
		}
	}
	return func() {
		distances()
		f = float64(g[0]) / float64(batch)
		if o.wrt == 2 {
			for i, ri := range r {
				out[i] = T(f * (ri - o.c))
			}
			return
		}
		par.For(batch, 1, body)
	}
}
