package sde

import (
	"fmt"
	"math"
)

// Fixed-step solvers of the probability-flow ODE (ode.go) on the time steps
// of Karras et al. 2022 ("Elucidating the design space of diffusion-based
// generative models", eq. 5): noise levels spaced evenly in sigma^(1/rho),
// rho = 7, which spends the steps where the noise is small. An SDE's noise
// level is sigma(t) = Std(t) / Mean(t), the noise-to-signal ratio (VE's
// sigma(t); for VP sqrt(1 - abar) / sqrt(abar)).

// KarrasRho is Karras et al.'s rho.
const KarrasRho = 7.0

// noiseLevel is sigma(t) = Std(t) / Mean(t), increasing in t.
func noiseLevel(s SDE, t float64) float64 { return s.Std(t) / s.Mean(t) }

// KarrasTimes are the steps+1 times from 1 down to eps whose noise levels
// are sigma_i = (sigma_max^(1/rho) + i/steps (sigma_min^(1/rho) -
// sigma_max^(1/rho)))^rho, with sigma_max = sigma(1) and sigma_min =
// sigma(eps); each time is found from its level by bisection.
func KarrasTimes(s SDE, steps int, eps, rho float64) ([]float64, error) {
	if err := checkSDE(s); err != nil {
		return nil, err
	}
	if err := checkGrid(steps, eps); err != nil {
		return nil, err
	}
	if !(rho > 0) || math.IsInf(rho, 0) {
		return nil, fmt.Errorf("sde: rho = %v, want a finite positive number", rho)
	}
	levels := karrasLevels(noiseLevel(s, 1), noiseLevel(s, eps), steps, rho)
	ts := make([]float64, steps+1)
	ts[0], ts[steps] = 1, eps
	for i := 1; i < steps; i++ {
		target := levels[i]
		a, b := eps, 1.0
		for range 100 {
			mid := (a + b) / 2
			if noiseLevel(s, mid) < target {
				a = mid
			} else {
				b = mid
			}
		}
		ts[i] = (a + b) / 2
	}
	return ts, nil
}

// karrasLevels are Karras et al.'s steps+1 noise levels from hi down to
// lo, sigma_i = (hi^(1/rho) + i/steps (lo^(1/rho) - hi^(1/rho)))^rho, the
// ends exactly hi and lo (the powers' rounding would miss them).
func karrasLevels(hi, lo float64, steps int, rho float64) []float64 {
	a, b := math.Pow(hi, 1/rho), math.Pow(lo, 1/rho)
	levels := make([]float64, steps+1)
	for i := range levels {
		levels[i] = math.Pow(a+float64(i)/float64(steps)*(b-a), rho)
	}
	levels[0], levels[steps] = hi, lo
	return levels
}

// ODEEuler samples the probability-flow ODE from the prior (as ODESample)
// by Euler steps on KarrasTimes(s, steps, eps, KarrasRho), in Karras et
// al.'s variables: the noise level sigma = Std/Mean and the scaled sample
// xh = x / Mean(t), in which the ODE is
//
//	dxh/dsigma = -sigma Mean(t) s(Mean(t) xh, t)
//
// (from dx/dt = f x - g^2/2 s: Mean' = f Mean and g^2 = 2 Mean^2 sigma
// sigma'), whose paths are nearly straight, so that a few steps do. That is
// steps network evaluations. With heun each step is Heun's (the trapezoid
// of the slopes at both ends, Karras et al.'s Algorithm 1): twice the
// evaluations, second-order accurate. progress, if not nil, is called
// after each step.
func ODEEuler(s SDE, score ScoreFunc, x []float32, batch, steps int, eps float64, heun bool, seed uint64, first int, progress func(i int)) error {
	sched, err := ODEEulerSchedule(s, steps, eps, heun)
	if err != nil {
		return err
	}
	w, err := newSampler(s, score, x, batch, seed, first)
	if err != nil {
		return err
	}
	w.prior()
	_, err = sched.run(w, progress)
	return err
}

// ODEPhase is what a fixed-step ODE sampler does after one network
// evaluation (ODEEval).
type ODEPhase int

const (
	ODEEulerStep   ODEPhase = iota // an Euler step
	ODEHeunPredict                 // Heun's first evaluation: the Euler point to evaluate next
	ODEHeunCorrect                 // Heun's second: the trapezoid of both slopes
)

// ODEEval is one network evaluation of a fixed-step ODE sampler (ODEEuler,
// FlowSample's ode-euler and heun), which keeps the scaled state y in
// float64 beside the network's input x. The network runs on x at the
// float32 time T, giving s (a score network's score, -eps_hat/Std; a
// velocity network's output as it is, Std = 0), then
//
//	ODEEulerStep:   y += H K s;              x = float32(MNext y)
//	ODEHeunPredict: d1 = K s;                x = float32(MNext (y + H d1))
//	ODEHeunCorrect: y += H (d1 + K s) / 2;   x = float32(MNext y)
//
// (the products in that order, in float64). Step is the step it belongs
// to, done after its last evaluation.
type ODEEval struct {
	Phase               ODEPhase
	Step                int
	T, Std, K, H, MNext float64
}

// ODESchedule is a fixed-step ODE sampler: the state starts from the
// prior x as y = x / M0, x = float32(M0 y), and Evals follow.
type ODESchedule struct {
	M0    float64
	Evals []ODEEval
}

// ODEEulerSchedule is ODEEuler's schedule: in Karras et al.'s variables,
// y = xh, the steps in u = sigma(t) on KarrasTimes, the slope factor K =
// -sigma(t) Mean(t) and the network's input Mean(t) xh.
func ODEEulerSchedule(s SDE, steps int, eps float64, heun bool) (ODESchedule, error) {
	ts, err := KarrasTimes(s, steps, eps, KarrasRho)
	if err != nil {
		return ODESchedule{}, err
	}
	at := func(t float64) (std, k float64) {
		return s.Std(float64(float32(t))), -noiseLevel(s, t) * s.Mean(t)
	}
	sigmas := make([]float64, len(ts))
	for i, t := range ts {
		sigmas[i] = noiseLevel(s, t)
	}
	return fixedSchedule(ts, sigmas, s.Mean, at, heun), nil
}

// fixedSchedule is the schedule of Euler or Heun steps over the grid u (u[i]
// at time ts[i]), the network's input being mean(t) y and the slope's
// factor and the score's std at t at(t).
func fixedSchedule(ts, u []float64, mean func(t float64) float64, at func(t float64) (std, k float64), heun bool) ODESchedule {
	sc := ODESchedule{M0: mean(ts[0])}
	for i := range len(u) - 1 {
		h := u[i+1] - u[i]
		std, k := at(ts[i])
		if !heun {
			sc.Evals = append(sc.Evals, ODEEval{Phase: ODEEulerStep, Step: i, T: ts[i], Std: std, K: k, H: h, MNext: mean(ts[i+1])})
			continue
		}
		std2, k2 := at(ts[i+1])
		sc.Evals = append(sc.Evals,
			ODEEval{Phase: ODEHeunPredict, Step: i, T: ts[i], Std: std, K: k, H: h, MNext: mean(ts[i+1])},
			ODEEval{Phase: ODEHeunCorrect, Step: i, T: ts[i+1], Std: std2, K: k2, H: h, MNext: mean(ts[i+1])})
	}
	return sc
}

// run carries w's batch, at the prior, through the schedule (the network
// on w.x at each evaluation, as a device runs it), calling progress, if not
// nil, after each step. It returns the network evaluations.
func (sc ODESchedule) run(w *sampler, progress func(i int)) (nfe int, err error) {
	y, d1 := make([]float64, len(w.x)), make([]float64, len(w.x))
	for j, v := range w.x {
		y[j] = float64(v) / sc.M0
		w.x[j] = float32(sc.M0 * y[j])
	}
	for _, e := range sc.Evals {
		nfe++
		if err := w.evalScore(e.T); err != nil {
			return nfe, fmt.Errorf("sde: step %d (t = %g): %w", e.Step, e.T, err)
		}
		for j, g := range w.grad {
			d := e.K * float64(g)
			switch e.Phase {
			case ODEEulerStep:
				y[j] += e.H * d
				w.x[j] = float32(e.MNext * y[j])
			case ODEHeunPredict:
				d1[j] = d
				w.x[j] = float32(e.MNext * (y[j] + e.H*d))
			case ODEHeunCorrect:
				y[j] += e.H * (d1[j] + d) / 2
				w.x[j] = float32(e.MNext * y[j])
			}
		}
		if progress != nil && e.Phase != ODEHeunPredict {
			progress(e.Step + 1)
		}
	}
	return nfe, nil
}
