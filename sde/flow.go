package sde

import (
	"fmt"
	"math"
)

// Conditional flow matching with the linear path (Lipman et al. 2023,
// "Flow matching for generative modeling"; Liu et al. 2023's rectified
// flow): data x0 at t = 0 and noise x1 ~ N(0, I) at t = 1 are joined by
//
//	x_t = (1 - t) x0 + t x1,   with velocity dx_t/dt = x1 - x0,
//
// and a network v(x, t) regressed on that velocity (the squared error)
// learns the marginal velocity field, whose ODE dx/dt = v carries the
// noise at t = 1 to data at t = 0.

// linearPath is the path's kernel x_t ~ N((1 - t) x0, t^2 I), for
// Perturb's draws.
type linearPath struct{}

func (linearPath) Mean(t float64) float64 { return 1 - t }
func (linearPath) Std(t float64) float64  { return t }

// FlowPerturb draws a flow-matching batch from the clean batch x0: for
// each sample a time t ~ U(eps, 1) and noise x1 ~ N(0, I), the same
// numbers as Perturb's under (seed, step), then x_t = (1 - t) x0 + t x1
// into xt and the target velocity x1 - x0 into target. It panics if the
// lengths disagree, as Perturb does.
func FlowPerturb(x0, xt, target, t []float32, batch int, seed, step uint64, eps float64) {
	Perturb(linearPath{}, x0, xt, target, t, batch, seed, step, eps)
	for j, z := range target {
		target[j] = z - x0[j]
	}
}

// FlowSample draws samples from a flow-matching model with velocity v (a
// ScoreFunc's signature: it writes v(x, t)): x is set to the prior N(0, I)
// (draw 0 of StreamPrior under seed, keyed by each sample's index in the
// run from first, as EulerMaruyama's) and carried from t = 1 to t = 0 by
// dx/dt = v. method is "ode-euler" or "heun", steps evenly spaced steps
// (steps, or 2 steps evaluations: unlike Karras et al.'s sigma = 0, t = 0
// is no singularity here, so Heun's last step is Heun's too), or "ode",
// adaptive RK45 with tol (steps unused). It returns the network
// evaluations.
func FlowSample(v ScoreFunc, x []float32, batch int, method string, steps int, tol Tolerances, seed uint64, first int, progress func(i int)) (nfe int, err error) {
	if v == nil {
		return 0, fmt.Errorf("sde: no velocity function")
	}
	w, err := newSampler(nil, v, x, batch, seed, first)
	if err != nil {
		return 0, err
	}
	Normals(w.x, w.seed, StreamPrior, 0, w.off)
	switch method {
	case "ode":
		y := make([]float64, len(x))
		for j, v := range x {
			y[j] = float64(v)
		}
		vel := func(t, y, dy []float64) error {
			for i, ti := range t {
				w.t[i] = float32(ti)
			}
			for j, v := range y {
				w.x[j] = float32(v)
			}
			if err := w.score(w.x, w.t, w.grad); err != nil {
				return err
			}
			for j, g := range w.grad {
				dy[j] = float64(g)
			}
			return nil
		}
		if nfe, err = solveRK45(vel, y, batch, 1, 0, tol); err != nil {
			return nfe, err
		}
		for j, v := range y {
			x[j] = float32(v)
		}
	case "ode-euler", "heun":
		sched, err := FlowEulerSchedule(steps, method == "heun")
		if err != nil {
			return 0, err
		}
		if nfe, err = sched.run(w, progress); err != nil {
			return nfe, err
		}
	default:
		return 0, fmt.Errorf("sde: flow sampler %q: want ode, ode-euler or heun", method)
	}
	for _, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nfe, fmt.Errorf("sde: the flow produced %v", v)
		}
	}
	return nfe, nil
}

// FlowEulerSchedule is FlowSample's ode-euler or heun schedule: steps
// evenly spaced steps from t = 1 to 0, y = x, the slope the velocity.
func FlowEulerSchedule(steps int, heun bool) (ODESchedule, error) {
	if steps < 1 {
		return ODESchedule{}, fmt.Errorf("sde: steps = %d, want at least 1", steps)
	}
	ts := make([]float64, steps+1)
	for i := range ts {
		ts[i] = 1 - float64(i)/float64(steps)
	}
	one := func(float64) float64 { return 1 }
	velocity := func(float64) (std, k float64) { return 0, 1 }
	return fixedSchedule(ts, ts, one, velocity, heun), nil
}
