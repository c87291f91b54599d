package nn

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/internal/par"
)

// The discretised logistic likelihood of 8-bit data (Salimans et al. 2017,
// PixelCNN++; Kingma et al. 2016, IAF): a pixel value k in 0..255 is
// stored as x = k/127.5 - 1, and its probability is the mass of a logistic
// with mean m and scale s = e^ls over the bin [x - 1/255, x + 1/255], the
// lowest bin taking (-inf, -1 + 1/255] and the highest [1 - 1/255, inf).
// The 256 masses sum to one, so a sum of -log P over an image is an honest
// code length of the 8-bit image.
//
// With a = (x - m + 1/255)/s and b = (x - m - 1/255)/s, an inner bin's
// mass is sigmoid(a) - sigmoid(b), whose log is computed as
// -softplus(-a) - softplus(b) + log(1 - e^(b-a)): exact even where the
// mass is far below float precision (PixelCNN++ switches to the density
// there, which is not a bound).

// logisticHalfBin is half a bin of 8-bit data mapped to [-1, 1].
const logisticHalfBin = 1.0 / 255

func softplus64(x float64) float64 { return max(x, 0) + math.Log1p(math.Exp(-math.Abs(x))) }
func sigmoid64(x float64) float64  { return 1 / (1 + math.Exp(-x)) }

// discLogistic is -log P(x | m, ls) and its derivatives with respect to m
// and ls, in float64. x is taken to the centre of its bin (the nearest of
// k/127.5 - 1, k in 0..255), so that bins meet exactly whatever the
// rounding of the stored data, and the masses sum to one. With f = log P
// and f_a, f_b its derivatives with respect to a and b: da/dm = db/dm =
// -1/s, da/dls = -a and db/dls = -b.
func discLogistic(x, m, ls float64) (nll, dm, dls float64) {
	k := min(max(math.Round((x+1)*127.5), 0), 255)
	x = k/127.5 - 1
	inv := math.Exp(-ls)
	a := inv * (x - m + logisticHalfBin)
	b := inv * (x - m - logisticHalfBin)
	switch k {
	case 0: // f = log sigmoid(a), f_a = sigmoid(-a)
		fa := sigmoid64(-a)
		return softplus64(-a), inv * fa, a * fa
	case 255: // f = log(1 - sigmoid(b)), f_b = -sigmoid(b)
		fb := -sigmoid64(b)
		return softplus64(b), inv * fb, b * fb
	}
	d := a - b            // 2/(255 s) > 0
	em := -math.Expm1(-d) // 1 - e^-d
	r := math.Exp(-d) / em
	// f_a = sigmoid(-a) + r and f_b = -sigmoid(b) - r; the r terms cancel
	// in f_a + f_b and nearly so in a f_a + b f_b (= ... + d r), where
	// they are huge for a large s, so they are combined by hand.
	nll = softplus64(-a) + softplus64(b) - math.Log(em)
	dm = inv * (sigmoid64(-a) - sigmoid64(b))
	dls = a*sigmoid64(-a) - b*sigmoid64(b) + d*r
	return nll, dm, dls
}

// discLogisticNLL is -log P(x | mean, logScale) element-wise.
type discLogisticNLL struct{ base }

// DiscLogisticNLL is, element-wise, the negative log-probability of the
// 8-bit data x (values k/127.5 - 1) under a logistic of mean `mean` and
// log-scale `logScale` discretised into 256 bins. The three have the same
// shape. x is read as the nearest 8-bit value, so the op is piecewise
// constant in x: its gradient with respect to x is zero.
func DiscLogisticNLL(x, mean, logScale *gorgonia.Node) (*gorgonia.Node, error) {
	xs := x.Shape()
	if !xs.Eq(mean.Shape()) || !xs.Eq(logScale.Shape()) || xs.Dims() != mean.Shape().Dims() || xs.Dims() != logScale.Shape().Dims() {
		return nil, fmt.Errorf("DiscLogisticNLL: shapes %v (x), %v (mean) and %v (log-scale) differ", xs, mean.Shape(), logScale.Shape())
	}
	return apply(&discLogisticNLL{newBase("DiscLogisticNLL", xs.Clone(), x, mean, logScale)}, x, mean, logScale)
}

func (o *discLogisticNLL) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *discLogisticNLL) BindCPU(c *engine.Call[float32]) func()         { return bindDiscLogistic(c) }
func (o *discLogisticNLL) bind64(c *engine.Call[float64]) func()          { return bindDiscLogistic(c) }

func bindDiscLogistic[T engine.Float](c *engine.Call[T]) func() {
	y, x, m, ls := c.Out.Data, c.In[0].Data, c.In[1].Data, c.In[2].Data
	body := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			nll, _, _ := discLogistic(float64(x[i]), float64(m[i]), float64(ls[i]))
			y[i] = T(nll)
		}
	}
	return func() { par.For(len(y), grain/16, body) }
}

func (o *discLogisticNLL) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := forgetDerivs(in); err != nil {
		return nil, err
	}
	grads := make(gorgonia.Nodes, 3)
	for wrt := 1; wrt <= 2; wrt++ {
		g, err := apply(&discLogisticGrad{gradBase: gradOf(fmt.Sprintf("DiscLogisticGrad(%d)", wrt), grad.Shape(), in[0], in[1], in[2], grad), wrt: wrt},
			in[0], in[1], in[2], grad)
		if err != nil {
			return nil, err
		}
		grads[wrt] = g
	}
	dx, err := Scale(grad, 0)
	grads[0] = dx
	return grads, err
}

// discLogisticGrad is grad times the derivative of DiscLogisticNLL with
// respect to its input wrt: 1 for the mean, 2 for the log-scale.
type discLogisticGrad struct {
	gradBase
	wrt int
}

func (o *discLogisticGrad) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *discLogisticGrad) InPlace() int                                   { return 3 }
func (o *discLogisticGrad) BindCPU(c *engine.Call[float32]) func()         { return bindDiscLogisticGrad(o, c) }
func (o *discLogisticGrad) bind64(c *engine.Call[float64]) func()          { return bindDiscLogisticGrad(o, c) }

func bindDiscLogisticGrad[T engine.Float](o *discLogisticGrad, c *engine.Call[T]) func() {
	dy, x, m, ls, g := c.Out.Data, c.In[0].Data, c.In[1].Data, c.In[2].Data, c.In[3].Data
	body := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			_, dm, dls := discLogistic(float64(x[i]), float64(m[i]), float64(ls[i]))
			if o.wrt == 1 {
				dy[i] = T(dm) * g[i]
			} else {
				dy[i] = T(dls) * g[i]
			}
		}
	}
	return func() { par.For(len(dy), grain/16, body) }
}
