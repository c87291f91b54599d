package nn

import (
	"fmt"
	"math"
	"strconv"

	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/internal/par"
)

// Act names an element-wise activation.
type Act int

// The activations; LeakyReLU's negative slope is a parameter of the op.
// Log and Sqrt are defined for x > 0 only: keeping x there is the caller's
// job. Softplus is log(1 + e^x), computed without overflow.
const (
	Identity Act = iota
	SiLU
	ReLU
	LeakyReLU
	Sigmoid
	Tanh
	Exp
	Log
	Softplus
	Sqrt
)

var actNames = [...]string{"Identity", "SiLU", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Exp", "Log", "Softplus", "Sqrt"}

func (a Act) String() string {
	if a < 0 || int(a) >= len(actNames) {
		return "Act(" + strconv.Itoa(int(a)) + ")"
	}
	return actNames[a]
}

// grain is the smallest slice of an element-wise loop worth a goroutine.
const grain = 1 << 15

type actFn[T engine.Float] struct {
	act   Act
	slope T
}

// f is the activation at x.
func (a actFn[T]) f(x T) T {
	switch a.act {
	case SiLU:
		return x / (1 + exp(-x))
	case ReLU:
		return max(x, 0)
	case LeakyReLU:
		if x < 0 {
			return a.slope * x
		}
		return x
	case Sigmoid:
		return 1 / (1 + exp(-x))
	case Tanh:
		return 2/(1+exp(-2*x)) - 1
	case Exp:
		return exp(x)
	case Log:
		return T(math.Log(float64(x)))
	case Softplus:
		// max(x,0) + log1p(e^-|x|): e^x itself would overflow for large x.
		return max(x, 0) + T(math.Log1p(float64(exp(-abs(x)))))
	case Sqrt:
		return T(math.Sqrt(float64(x)))
	}
	return x
}

// df is the activation's derivative at x.
func (a actFn[T]) df(x T) T {
	switch a.act {
	case SiLU:
		s := 1 / (1 + exp(-x))
		return s * (1 + x*(1-s))
	case ReLU:
		if x > 0 {
			return 1
		}
		return 0
	case LeakyReLU:
		if x < 0 {
			return a.slope
		}
		return 1
	case Sigmoid:
		s := 1 / (1 + exp(-x))
		return s * (1 - s)
	case Tanh:
		t := 2/(1+exp(-2*x)) - 1
		return 1 - t*t
	case Exp:
		return exp(x)
	case Log:
		return 1 / x
	case Softplus:
		return 1 / (1 + exp(-x))
	case Sqrt:
		return 0.5 / T(math.Sqrt(float64(x)))
	}
	return 1
}

// d2f is the activation's second derivative at x: zero for the piecewise
// linear ones (their kinks have measure zero).
func (a actFn[T]) d2f(x T) T {
	switch a.act {
	case SiLU:
		s := 1 / (1 + exp(-x))
		return s * (1 - s) * (2 + x*(1-2*s))
	case Sigmoid:
		s := 1 / (1 + exp(-x))
		return s * (1 - s) * (1 - 2*s)
	case Tanh:
		t := 2/(1+exp(-2*x)) - 1
		return -2 * t * (1 - t*t)
	case Exp:
		return exp(x)
	case Log:
		return -1 / (x * x)
	case Softplus:
		s := 1 / (1 + exp(-x))
		return s * (1 - s)
	case Sqrt:
		return -0.25 / (x * T(math.Sqrt(float64(x))))
	}
	return 0
}

func abs[T engine.Float](x T) T {
	if x < 0 {
		return -x
	}
	return x
}

// activation is y = f(x) element-wise.
type activation struct {
	base
	act   Act
	slope float64
}

// Activate applies act element-wise; slope is LeakyReLU's negative slope.
func Activate(x *gorgonia.Node, act Act, slope float64) (*gorgonia.Node, error) {
	if act < 0 || int(act) >= len(actNames) {
		return nil, fmt.Errorf("Activate of shape %v: unknown activation %v", x.Shape(), act)
	}
	return apply(&activation{base: newBase(actName(act, slope), x.Shape(), x), act: act, slope: slope}, x)
}

func actName(act Act, slope float64) string {
	if act == LeakyReLU {
		return "LeakyReLU(" + fmtFloat(slope) + ")"
	}
	return act.String()
}

func (o *activation) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *activation) InPlace() int                                   { return 0 }
func (o *activation) BindCPU(c *engine.Call[float32]) func()         { return bindActivation(o, c) }
func (o *activation) bind64(c *engine.Call[float64]) func()          { return bindActivation(o, c) }

func bindActivation[T engine.Float](o *activation, c *engine.Call[T]) func() {
	a := actFn[T]{o.act, T(o.slope)}
	y, x := c.Out.Data, c.In[0].Data
	body := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			y[i] = a.f(x[i])
		}
	}
	return func() { par.For(len(y), grain, body) }
}

func (o *activation) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := forgetDerivs(in); err != nil {
		return nil, err
	}
	x := in[0]
	g, err := apply(&activationGrad{gradBase: gradOf(actName(o.act, o.slope)+"Grad", x.Shape(), x, grad), act: o.act, slope: o.slope}, x, grad)
	return gorgonia.Nodes{g}, err
}

// activationGrad is dx = f'(x) * dy. Its own gradient is defined, so that
// a gradient penalty (WGAN-GP) can be differentiated through a network's
// activations: with g the gradient of dx and f2 the second derivative,
// d/dx = f2(x) dy g (an activationGrad2) and d/d(dy) = f'(x) g (another
// activationGrad).
type activationGrad struct {
	gradBase
	act   Act
	slope float64
}

func (o *activationGrad) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := forgetDerivs(in); err != nil {
		return nil, err
	}
	x, dy := in[0], in[1]
	name := actName(o.act, o.slope)
	dx, err := apply(&activationGrad2{gradBase: gradOf(name+"Grad2", x.Shape(), x, dy, grad), act: o.act, slope: o.slope}, x, dy, grad)
	if err != nil {
		return nil, err
	}
	ddy, err := apply(&activationGrad{gradBase: gradOf(name+"Grad", x.Shape(), x, grad), act: o.act, slope: o.slope}, x, grad)
	return gorgonia.Nodes{dx, ddy}, err
}

func (o *activationGrad) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *activationGrad) InPlace() int                                   { return 1 }
func (o *activationGrad) BindCPU(c *engine.Call[float32]) func()         { return bindActivationGrad(o, c) }
func (o *activationGrad) bind64(c *engine.Call[float64]) func()          { return bindActivationGrad(o, c) }

func bindActivationGrad[T engine.Float](o *activationGrad, c *engine.Call[T]) func() {
	a := actFn[T]{o.act, T(o.slope)}
	dx, x, dy := c.Out.Data, c.In[0].Data, c.In[1].Data
	body := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dx[i] = a.df(x[i]) * dy[i]
		}
	}
	return func() { par.For(len(dx), grain, body) }
}

// activationGrad2 is f2(x) * dy * g, f2 the second derivative:
// activationGrad's gradient with respect to x. Third derivatives are not
// needed, so its own SymDiff refuses by name (gradBase).
type activationGrad2 struct {
	gradBase
	act   Act
	slope float64
}

func (o *activationGrad2) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *activationGrad2) InPlace() int                                   { return 2 }
func (o *activationGrad2) BindCPU(c *engine.Call[float32]) func()         { return bindActivationGrad2(o, c) }
func (o *activationGrad2) bind64(c *engine.Call[float64]) func()          { return bindActivationGrad2(o, c) }

func bindActivationGrad2[T engine.Float](o *activationGrad2, c *engine.Call[T]) func() {
	a := actFn[T]{o.act, T(o.slope)}
	out, x, dy, g := c.Out.Data, c.In[0].Data, c.In[1].Data, c.In[2].Data
	body := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i] = a.d2f(x[i]) * dy[i] * g[i]
		}
	}
	return func() { par.For(len(out), grain, body) }
}
