package nn

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/engine"
)

// sinusoidal is the transformer-style embedding of a batch of scalars (the
// diffusion time), as score_sde's get_timestep_embedding: with half = dim/2
// and arg_k = scale * t * exp(-ln(10000) * k/(half-1)) for k < half,
// y = [sin(arg_0..arg_{half-1}), cos(arg_0..arg_{half-1})].
type sinusoidal struct {
	base
	dim   int
	scale float64
}

// Sinusoidal embeds t ([B]) as [B, dim]; dim must be even and at least 4.
func Sinusoidal(t *gorgonia.Node, dim int, scale float64) (*gorgonia.Node, error) {
	if t.Shape().Dims() != 1 {
		return nil, fmt.Errorf("Sinusoidal: t has shape %v, want [B]", t.Shape())
	}
	if dim < 4 || dim%2 != 0 {
		return nil, fmt.Errorf("Sinusoidal: embedding of t %v into dim %d: dim must be even and at least 4", t.Shape(), dim)
	}
	out := tensor.Shape{t.Shape()[0], dim}
	name := fmt.Sprintf("Sinusoidal(dim=%d,scale=%s)", dim, fmtFloat(scale))
	return apply(&sinusoidal{base: newBase(name, out, t), dim: dim, scale: scale}, t)
}

// freqs returns scale * exp(-ln(10000) * k/(half-1)) for k < half.
func sinusoidalFreqs(dim int, scale float64) []float64 {
	half := dim / 2
	f := make([]float64, half)
	for k := range f {
		f[k] = scale * math.Exp(-math.Log(10000)*float64(k)/float64(half-1))
	}
	return f
}

func (o *sinusoidal) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *sinusoidal) BindCPU(c *engine.Call[float32]) func()         { return bindSinusoidal(o, c) }
func (o *sinusoidal) bind64(c *engine.Call[float64]) func()          { return bindSinusoidal(o, c) }

// The tensor is small (batch x dim), so it runs on one core, in float64.
func bindSinusoidal[T engine.Float](o *sinusoidal, c *engine.Call[T]) func() {
	y, t := c.Out.Data, c.In[0].Data
	freqs, dim, half := sinusoidalFreqs(o.dim, o.scale), o.dim, o.dim/2
	return func() {
		for b, tb := range t {
			yb := y[b*dim : (b+1)*dim]
			for k, f := range freqs {
				s, c := math.Sincos(float64(tb) * f)
				yb[k], yb[half+k] = T(s), T(c)
			}
		}
	}
}

func (o *sinusoidal) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := forgetDerivs(in); err != nil {
		return nil, err
	}
	t := in[0]
	name := fmt.Sprintf("SinusoidalGrad(dim=%d,scale=%s)", o.dim, fmtFloat(o.scale))
	g, err := apply(&sinusoidalGrad{gradBase: gradOf(name, t.Shape(), t, grad), dim: o.dim, scale: o.scale}, t, grad)
	return gorgonia.Nodes{g}, err
}

// sinusoidalGrad is dt = sum_k f_k * (cos(arg_k)*g_k - sin(arg_k)*g_{half+k})
// from (t, grad), where f_k is the frequency including scale.
type sinusoidalGrad struct {
	gradBase
	dim   int
	scale float64
}

func (o *sinusoidalGrad) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *sinusoidalGrad) BindCPU(c *engine.Call[float32]) func()         { return bindSinusoidalGrad(o, c) }
func (o *sinusoidalGrad) bind64(c *engine.Call[float64]) func()          { return bindSinusoidalGrad(o, c) }

func bindSinusoidalGrad[T engine.Float](o *sinusoidalGrad, c *engine.Call[T]) func() {
	dt, t, g := c.Out.Data, c.In[0].Data, c.In[1].Data
	freqs, dim, half := sinusoidalFreqs(o.dim, o.scale), o.dim, o.dim/2
	return func() {
		for b, tb := range t {
			gb := g[b*dim : (b+1)*dim]
			var acc float64
			for k, f := range freqs {
				s, c := math.Sincos(float64(tb) * f)
				acc += f * (c*float64(gb[k]) - s*float64(gb[half+k]))
			}
			dt[b] = T(acc)
		}
	}
}
