package nn

import (
	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/internal/par"
)

// Act names an element-wise activation.
type Act int

// The activations; LeakyReLU's negative slope is a parameter of the op.
const (
	Identity Act = iota
	SiLU
	ReLU
	LeakyReLU
	Sigmoid
	Tanh
)

var actNames = [...]string{"Identity", "SiLU", "ReLU", "LeakyReLU", "Sigmoid", "Tanh"}

func (a Act) String() string { return actNames[a] }

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
	}
	return 1
}

// activation is y = f(x) element-wise.
type activation struct {
	base
	act   Act
	slope float64
}

// Activate applies act element-wise; slope is LeakyReLU's negative slope.
func Activate(x *gorgonia.Node, act Act, slope float64) (*gorgonia.Node, error) {
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

// activationGrad is dx = f'(x) * dy.
type activationGrad struct {
	gradBase
	act   Act
	slope float64
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
