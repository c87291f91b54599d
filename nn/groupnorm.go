package nn

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/internal/par"
)

// groupNorm is y = act(gamma * (x - mean) / sqrt(var + eps) + beta), with the
// mean and biased variance taken per sample over each group of channels.
// The activation is fused in so that nothing between x and y is kept for the
// backward pass: it recomputes the statistics and the pre-activation from x.
type groupNorm struct {
	base
	groups int
	eps    float64
	act    Act
}

func (o *groupNorm) recomputed() op {
	c := *o
	c.base = o.base.recomputed()
	return &c
}

// GroupNorm normalises x ([N,C,H,W] or [N,C]) over groups of C/groups
// channels, scales and shifts each channel by gamma and beta ([C]) and
// applies act, which is Identity or SiLU.
func GroupNorm(x, gamma, beta *gorgonia.Node, groups int, eps float64, act Act) (*gorgonia.Node, error) {
	xs, gs, bs := x.Shape(), gamma.Shape(), beta.Shape()
	if xs.Dims() != 2 && xs.Dims() != 4 {
		return nil, fmt.Errorf("GroupNorm: x has shape %v, want [N,C,H,W] or [N,C]", xs)
	}
	c := xs[1]
	if gs.Dims() != 1 || gs[0] != c || bs.Dims() != 1 || bs[0] != c {
		return nil, fmt.Errorf("GroupNorm: gamma %v and beta %v must both be [%d] for x %v", gs, bs, c, xs)
	}
	if groups <= 0 || c%groups != 0 {
		return nil, fmt.Errorf("GroupNorm: %d groups do not divide the %d channels of x %v", groups, c, xs)
	}
	if act != Identity && act != SiLU {
		return nil, fmt.Errorf("GroupNorm: activation %v is not Identity or SiLU", act)
	}
	o := &groupNorm{base: newBase(groupNormName("GroupNorm", groups, eps, act), xs, x, gamma, beta), groups: groups, eps: eps, act: act}
	return apply(o, x, gamma, beta)
}

func groupNormName(op string, groups int, eps float64, act Act) string {
	return fmt.Sprintf("%s(groups=%d,eps=%s,%v)", op, groups, fmtFloat(eps), act)
}

// gnLayout is how GroupNorm's kernels see x: n samples of g groups, each
// group d channels of s pixels. A group's d*s elements are contiguous.
type gnLayout struct{ n, c, g, d, s int }

func gnLayoutOf(x tensor.Shape, groups int) gnLayout {
	s := 1
	if x.Dims() == 4 {
		s = x[2] * x[3]
	}
	return gnLayout{n: x[0], c: x[1], g: groups, d: x[1] / groups, s: s}
}

// groupStats returns the mean and 1/sqrt(var+eps) of one group. It sums in
// float64, and takes the variance of the centred values (two passes) so that
// a large mean does not cancel away the float32 variance.
func groupStats[T engine.Float](x []T, eps float64) (mean, rstd float64) {
	var sum float64
	for _, v := range x {
		sum += float64(v)
	}
	mean = sum / float64(len(x))
	var ss float64
	for _, v := range x {
		d := float64(v) - mean
		ss += d * d
	}
	return mean, 1 / math.Sqrt(ss/float64(len(x))+eps)
}

func (o *groupNorm) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *groupNorm) BindCPU(c *engine.Call[float32]) func() {
	return bindGroupNorm32(newGNArgs(gnLayoutOf(c.In[0].Shape, o.groups), o.eps, o.act), c)
}
func (o *groupNorm) bind64(c *engine.Call[float64]) func() { return bindGroupNorm(o, c) }

func bindGroupNorm[T engine.Float](o *groupNorm, c *engine.Call[T]) func() {
	l := gnLayoutOf(c.In[0].Shape, o.groups)
	y, x, gamma, beta := c.Out.Data, c.In[0].Data, c.In[1].Data, c.In[2].Data
	a := actFn[T]{act: o.act}
	m, eps := l.d*l.s, o.eps
	body := func(lo, hi int) {
		for ng := lo; ng < hi; ng++ { // one (sample, group) at a time
			xg, yg := x[ng*m:(ng+1)*m], y[ng*m:(ng+1)*m]
			mean, rstd := groupStats(xg, eps)
			mu, r := T(mean), T(rstd)
			for j := range l.d {
				ch := (ng%l.g)*l.d + j
				gr, bt := gamma[ch]*r, beta[ch]
				xc, yc := xg[j*l.s:(j+1)*l.s], yg[j*l.s:(j+1)*l.s]
				for k := range xc {
					yc[k] = a.f((xc[k]-mu)*gr + bt)
				}
			}
		}
	}
	return func() { par.For(l.n*l.g, max(1, grain/m), body) }
}

func (o *groupNorm) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := forgetDerivs(in); err != nil {
		return nil, err
	}
	x, gamma, beta := in[0], in[1], in[2]
	c := gamma.Shape()[0]
	grads := make(gorgonia.Nodes, 2)
	for wrt, shape := range []tensor.Shape{x.Shape(), {1, 2 * c}} {
		g := &groupNormGrad{
			gradBase: gradOf(groupNormName("GroupNormGrad"+gnWRT[wrt], o.groups, o.eps, o.act), shape, x, gamma, beta, grad),
			groups:   o.groups, eps: o.eps, act: o.act, wrt: wrt,
		}
		var err error
		if grads[wrt], err = apply(g, x, gamma, beta, grad); err != nil {
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

var gnWRT = [...]string{"X", "Affine"}

// groupNormGrad is GroupNorm's gradient from (x, gamma, beta, grad): with
// wrt 0 dx, with wrt 1 dgamma and dbeta side by side as [1, 2C]. With
// xh = (x-mean)*rstd and
// dz = grad * act'(gamma*xh + beta):
//
//	dgamma = sum dz*xh, dbeta = sum dz (over samples and pixels),
//	dx = rstd * (dxh - mean(dxh) - xh*mean(dxh*xh)) with dxh = dz*gamma,
//
// the means taken over the group.
type groupNormGrad struct {
	gradBase
	groups int
	eps    float64
	act    Act
	wrt    int
}

func (o *groupNormGrad) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *groupNormGrad) BindCPU(c *engine.Call[float32]) func() {
	a := newGNArgs(gnLayoutOf(c.In[0].Shape, o.groups), o.eps, o.act)
	if o.wrt == 0 {
		return bindGroupNormGradX32(a, c)
	}
	return bindGroupNormGradAffine32(a, c)
}
func (o *groupNormGrad) bind64(c *engine.Call[float64]) func() { return bindGroupNormGrad(o, c) }

// InPlace lets dx overwrite grad, which it reads element by element just
// before writing the same element.
func (o *groupNormGrad) InPlace() int {
	if o.wrt == 0 {
		return 3
	}
	return -1
}

func bindGroupNormGrad[T engine.Float](o *groupNormGrad, c *engine.Call[T]) func() {
	if o.wrt == 0 {
		return bindGroupNormGradX(o, c)
	}
	return bindGroupNormGradAffine(o, c)
}

func bindGroupNormGradX[T engine.Float](o *groupNormGrad, c *engine.Call[T]) func() {
	l := gnLayoutOf(c.In[0].Shape, o.groups)
	dx, x, gamma, beta, dy := c.Out.Data, c.In[0].Data, c.In[1].Data, c.In[2].Data, c.In[3].Data
	a := actFn[T]{act: o.act}
	m, eps := l.d*l.s, o.eps
	body := func(lo, hi int) {
		for ng := lo; ng < hi; ng++ {
			xg, dyg, dxg := x[ng*m:(ng+1)*m], dy[ng*m:(ng+1)*m], dx[ng*m:(ng+1)*m]
			mean, rstd := groupStats(xg, eps)
			mu, r := T(mean), T(rstd)
			// First pass: dxh into dx, and the two group sums.
			var sum, sumXh float64
			for j := range l.d {
				ch := (ng%l.g)*l.d + j
				gm, bt := gamma[ch], beta[ch]
				for k := j * l.s; k < (j+1)*l.s; k++ {
					xh := (xg[k] - mu) * r
					dxh := dyg[k] * a.df(gm*xh+bt) * gm
					dxg[k] = dxh
					sum += float64(dxh)
					sumXh += float64(dxh * xh)
				}
			}
			mDxh, mDxhXh := T(sum/float64(m)), T(sumXh/float64(m))
			for k := range dxg {
				xh := (xg[k] - mu) * r
				dxg[k] = r * (dxg[k] - mDxh - xh*mDxhXh)
			}
		}
	}
	return func() { par.For(l.n*l.g, max(1, grain/m), body) }
}

func bindGroupNormGradAffine[T engine.Float](o *groupNormGrad, c *engine.Call[T]) func() {
	l := gnLayoutOf(c.In[0].Shape, o.groups)
	out, x, gamma, beta, dy := c.Out.Data, c.In[0].Data, c.In[1].Data, c.In[2].Data, c.In[3].Data
	a := actFn[T]{act: o.act}
	m, eps := l.d*l.s, o.eps
	// A channel's sum runs over all samples, whose statistics are per
	// group, so they are computed first for all (sample, group) pairs.
	stats := make([]float64, 2*l.n*l.g)
	statsBody := func(lo, hi int) {
		for ng := lo; ng < hi; ng++ {
			stats[2*ng], stats[2*ng+1] = groupStats(x[ng*m:(ng+1)*m], eps)
		}
	}
	body := func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			gm, bt := gamma[ch], beta[ch]
			var dGamma, dBeta float64
			for n := range l.n {
				ng := n*l.g + ch/l.d
				mu, r := T(stats[2*ng]), T(stats[2*ng+1])
				off := (n*l.c + ch) * l.s
				xc, dyc := x[off:off+l.s], dy[off:off+l.s]
				for k := range xc {
					xh := (xc[k] - mu) * r
					dz := dyc[k] * a.df(gm*xh+bt)
					dGamma += float64(dz * xh)
					dBeta += float64(dz)
				}
			}
			out[ch], out[l.c+ch] = T(dGamma), T(dBeta)
		}
	}
	return func() {
		par.For(l.n*l.g, max(1, grain/m), statsBody)
		par.For(l.c, max(1, grain/(l.n*l.s)), body)
	}
}
