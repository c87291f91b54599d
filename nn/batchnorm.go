package nn

import (
	"fmt"
	"math"

	"github.com/pkg/errors"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/internal/par"
)

// batchNorm is training-mode batch normalisation (torch's BatchNorm2d and
// BatchNorm1d in train mode): y = gamma * (x - mean) / sqrt(var + eps) +
// beta, the mean and biased variance of each channel taken over the batch
// and the pixels. Nothing between x and y is kept: the backward ops
// recompute the statistics from x.
type batchNorm struct {
	base
	eps float64
}

// BatchNorm normalises x ([N,C,H,W] or [N,C]) per channel with the batch's
// mean and biased variance, then scales and shifts each channel by gamma
// and beta ([C]). eps is torch's, usually 1e-5. ChannelMoments gives the
// statistics a trainer keeps running averages of; BatchNormInference
// normalises with those at sampling time.
func BatchNorm(x, gamma, beta *gorgonia.Node, eps float64) (*gorgonia.Node, error) {
	xs := x.Shape()
	if err := checkBatchShape("BatchNorm", xs); err != nil {
		return nil, err
	}
	if err := checkChannelParams("BatchNorm", xs, gamma, beta); err != nil {
		return nil, err
	}
	if !(eps > 0) || math.IsInf(eps, 1) {
		return nil, fmt.Errorf("BatchNorm of shape %v: eps = %v, want a finite eps > 0", xs, eps)
	}
	return apply(&batchNorm{base: newBase(batchNormName("BatchNorm", eps), xs, x, gamma, beta), eps: eps}, x, gamma, beta)
}

func batchNormName(op string, eps float64) string {
	return fmt.Sprintf("%s(eps=%s)", op, fmtFloat(eps))
}

// checkBatchShape accepts [N,C,H,W] and [N,C] with at least two values per
// channel: one has no variance (torch refuses it in training too).
func checkBatchShape(op string, xs tensor.Shape) error {
	if xs.Dims() != 2 && xs.Dims() != 4 {
		return fmt.Errorf("%s: x has shape %v, want [N,C,H,W] or [N,C]", op, xs)
	}
	if m := xs.TotalSize() / max(xs[1], 1); m < 2 {
		return fmt.Errorf("%s: x of shape %v has %d value per channel, want at least 2", op, xs, m)
	}
	return nil
}

// checkChannelParams checks that each of ps is [C] for x's C channels.
func checkChannelParams(op string, xs tensor.Shape, ps ...*gorgonia.Node) error {
	for _, p := range ps {
		if s := p.Shape(); s.Dims() != 1 || s[0] != xs[1] {
			return fmt.Errorf("%s: %s has shape %v, want [%d] for x %v", op, p.Name(), s, xs[1], xs)
		}
	}
	return nil
}

// bnLayout is how the batch-norm kernels see x: n samples of c channels of
// s pixels; channel ch of sample i is x[(i*c+ch)*s:][:s].
type bnLayout struct{ n, c, s int }

func bnLayoutOf(x tensor.Shape) bnLayout {
	s := 1
	if x.Dims() == 4 {
		s = x[2] * x[3]
	}
	return bnLayout{n: x[0], c: x[1], s: s}
}

// m is the number of values per channel.
func (l bnLayout) m() int { return l.n * l.s }

// channelStats returns the mean of channel ch and the sum of squared
// deviations from it. It sums in float64, two passes, as groupStats does.
func channelStats[T engine.Float](x []T, l bnLayout, ch int) (mean, ss float64) {
	var sum float64
	for i := range l.n {
		for _, v := range x[(i*l.c+ch)*l.s:][:l.s] {
			sum += float64(v)
		}
	}
	mean = sum / float64(l.m())
	for i := range l.n {
		for _, v := range x[(i*l.c+ch)*l.s:][:l.s] {
			d := float64(v) - mean
			ss += d * d
		}
	}
	return mean, ss
}

func (o *batchNorm) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *batchNorm) BindCPU(c *engine.Call[float32]) func()         { return bindBatchNorm(o, c) }
func (o *batchNorm) bind64(c *engine.Call[float64]) func()          { return bindBatchNorm(o, c) }

func bindBatchNorm[T engine.Float](o *batchNorm, c *engine.Call[T]) func() {
	l := bnLayoutOf(c.In[0].Shape)
	y, x, gamma, beta := c.Out.Data, c.In[0].Data, c.In[1].Data, c.In[2].Data
	eps := o.eps
	body := func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			mean, ss := channelStats(x, l, ch)
			mu, gr, bt := T(mean), gamma[ch]*T(1/math.Sqrt(ss/float64(l.m())+eps)), beta[ch]
			for i := range l.n {
				off := (i*l.c + ch) * l.s
				xc, yc := x[off:off+l.s], y[off:off+l.s]
				for k := range xc {
					yc[k] = (xc[k]-mu)*gr + bt
				}
			}
		}
	}
	return func() { par.For(l.c, max(1, grain/l.m()), body) }
}

func (o *batchNorm) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := forgetDerivs(in); err != nil {
		return nil, err
	}
	x, gamma := in[0], in[1]
	c := gamma.Shape()[0]
	var grads [2]*gorgonia.Node
	for wrt, shape := range []tensor.Shape{x.Shape(), {1, 2 * c}} {
		g := &batchNormGrad{gradBase: gradOf(batchNormName("BatchNormGrad"+gnWRT[wrt], o.eps), shape, x, gamma, grad), eps: o.eps, wrt: wrt}
		var err error
		if grads[wrt], err = apply(g, x, gamma, grad); err != nil {
			return nil, err
		}
	}
	// dgamma and dbeta come out side by side, from one pass over x.
	d := gorgonia.Nodes{grads[0], nil, nil}
	for i := range 2 {
		half, err := Split(grads[1], i*c, (i+1)*c)
		if err == nil {
			d[1+i], err = Reshape(half, tensor.Shape{c})
		}
		if err != nil {
			return nil, err
		}
	}
	return d, nil
}

// batchNormGrad is BatchNorm's gradient from (x, gamma, grad): with wrt 0
// dx, with wrt 1 dgamma and dbeta side by side as [1, 2C]. With
// xh = (x-mean)*rstd, the sums over a channel's batch and pixels
//
//	dgamma = sum dy*xh, dbeta = sum dy,
//	dx = gamma*rstd * (dy - dbeta/m - xh*dgamma/m),
//
// m the values per channel (the batch statistics depend on every x of the
// channel, hence the two means). Second derivatives through batch norm are
// not needed (a WGAN-GP critic has none), so its SymDiff refuses by name.
type batchNormGrad struct {
	gradBase
	eps float64
	wrt int
}

func (o *batchNormGrad) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *batchNormGrad) BindCPU(c *engine.Call[float32]) func()         { return bindBatchNormGrad(o, c) }
func (o *batchNormGrad) bind64(c *engine.Call[float64]) func()          { return bindBatchNormGrad(o, c) }

// InPlace lets dx overwrite grad: each channel's sums are taken before any
// of its elements is written, and the channels are disjoint.
func (o *batchNormGrad) InPlace() int {
	if o.wrt == 0 {
		return 2
	}
	return -1
}

func bindBatchNormGrad[T engine.Float](o *batchNormGrad, c *engine.Call[T]) func() {
	l := bnLayoutOf(c.In[0].Shape)
	out, x, gamma, dy := c.Out.Data, c.In[0].Data, c.In[1].Data, c.In[2].Data
	eps, m, wrt := o.eps, float64(l.m()), o.wrt
	body := func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			mean, ss := channelStats(x, l, ch)
			mu, r := T(mean), T(1/math.Sqrt(ss/m+eps))
			var dGamma, dBeta float64
			for i := range l.n {
				off := (i*l.c + ch) * l.s
				xc, dyc := x[off:off+l.s], dy[off:off+l.s]
				for k := range xc {
					dGamma += float64(dyc[k] * (xc[k] - mu) * r)
					dBeta += float64(dyc[k])
				}
			}
			if wrt == 1 {
				out[ch], out[l.c+ch] = T(dGamma), T(dBeta)
				continue
			}
			gr, mDy, mDyXh := gamma[ch]*r, T(dBeta/m), T(dGamma/m)
			for i := range l.n {
				off := (i*l.c + ch) * l.s
				xc, dyc, dxc := x[off:off+l.s], dy[off:off+l.s], out[off:off+l.s]
				for k := range xc {
					dxc[k] = gr * (dyc[k] - mDy - (xc[k]-mu)*r*mDyXh)
				}
			}
		}
	}
	return func() { par.For(l.c, max(1, grain/l.m()), body) }
}

// channelMoments is each channel's mean and unbiased variance over the
// batch and pixels, side by side as [1, 2C].
type channelMoments struct{ base }

// ChannelMoments returns the mean and the unbiased variance ([C] each) of
// every channel of x ([N,C,H,W] or [N,C]) over the batch and the pixels:
// what torch's BatchNorm folds into running_mean and running_var
// (running = (1-momentum)*running + momentum*batch). They feed no loss, so
// they have no gradient; asking for one is an error naming the op.
func ChannelMoments(x *gorgonia.Node) (mean, unbiasedVar *gorgonia.Node, err error) {
	xs := x.Shape()
	if err := checkBatchShape("ChannelMoments", xs); err != nil {
		return nil, nil, err
	}
	c := xs[1]
	both, err := apply(&channelMoments{newBase("ChannelMoments", tensor.Shape{1, 2 * c}, x)}, x)
	if err != nil {
		return nil, nil, err
	}
	var halves [2]*gorgonia.Node
	for i := range 2 {
		half, err := Split(both, i*c, (i+1)*c)
		if err == nil {
			halves[i], err = Reshape(half, tensor.Shape{c})
		}
		if err != nil {
			return nil, nil, err
		}
	}
	return halves[0], halves[1], nil
}

func (o *channelMoments) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *channelMoments) BindCPU(c *engine.Call[float32]) func()         { return bindChannelMoments(c) }
func (o *channelMoments) bind64(c *engine.Call[float64]) func()          { return bindChannelMoments(c) }

func bindChannelMoments[T engine.Float](c *engine.Call[T]) func() {
	l := bnLayoutOf(c.In[0].Shape)
	out, x := c.Out.Data, c.In[0].Data
	body := func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			mean, ss := channelStats(x, l, ch)
			out[ch], out[l.c+ch] = T(mean), T(ss/float64(l.m()-1))
		}
	}
	return func() { par.For(l.c, max(1, grain/l.m()), body) }
}

// SymDiff refuses: the moments feed running averages, not a loss.
func (o *channelMoments) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, errors.Errorf("nn: the gradient of %s is not defined (batch statistics feed running averages, not a loss)", o.name)
}

// batchNormInference is batch norm in eval mode: y = gamma * (x - mean) /
// sqrt(variance + eps) + beta per channel, with given statistics.
type batchNormInference struct {
	base
	eps float64
}

// BatchNormInference is batch norm in eval mode (torch's BatchNorm after
// .eval()): y = gamma * (x - mean) / sqrt(variance + eps) + beta per
// channel of x ([N,C,H,W] or [N,C]), with given statistics of shape [C],
// the running ones a trainer kept from ChannelMoments. It is for sampling:
// one pass over x, and no gradient (asking for one is an error naming it).
func BatchNormInference(x, gamma, beta, mean, variance *gorgonia.Node, eps float64) (*gorgonia.Node, error) {
	xs := x.Shape()
	if xs.Dims() != 2 && xs.Dims() != 4 {
		return nil, fmt.Errorf("BatchNormInference: x has shape %v, want [N,C,H,W] or [N,C]", xs)
	}
	if err := checkChannelParams("BatchNormInference", xs, gamma, beta, mean, variance); err != nil {
		return nil, err
	}
	if !(eps >= 0) || math.IsInf(eps, 1) {
		return nil, fmt.Errorf("BatchNormInference of shape %v: eps = %v, want a finite eps >= 0", xs, eps)
	}
	o := &batchNormInference{base: newBase(batchNormName("BatchNormInference", eps), xs, x, gamma, beta, mean, variance), eps: eps}
	return apply(o, x, gamma, beta, mean, variance)
}

func (o *batchNormInference) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *batchNormInference) InPlace() int                                   { return 0 }
func (o *batchNormInference) BindCPU(c *engine.Call[float32]) func() {
	return bindBatchNormInference(o, c)
}
func (o *batchNormInference) bind64(c *engine.Call[float64]) func() {
	return bindBatchNormInference(o, c)
}

func bindBatchNormInference[T engine.Float](o *batchNormInference, c *engine.Call[T]) func() {
	l := bnLayoutOf(c.In[0].Shape)
	y, x, gamma, beta, mean, variance := c.Out.Data, c.In[0].Data, c.In[1].Data, c.In[2].Data, c.In[3].Data, c.In[4].Data
	eps := o.eps
	body := func(lo, hi int) {
		for p := lo; p < hi; p++ { // plane p: sample p/c, channel p%c
			ch := p % l.c
			mu, gr, bt := mean[ch], gamma[ch]*T(1/math.Sqrt(float64(variance[ch])+eps)), beta[ch]
			xc, yc := x[p*l.s:(p+1)*l.s], y[p*l.s:(p+1)*l.s]
			for k := range xc {
				yc[k] = (xc[k]-mu)*gr + bt
			}
		}
	}
	return func() { par.For(l.n*l.c, max(1, grain/l.s), body) }
}

// SymDiff refuses: sampling needs no gradient.
func (o *batchNormInference) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, errors.Errorf("nn: the gradient of %s is not defined (it is for sampling; train with BatchNorm)", o.name)
}
