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
	ts, err := KarrasTimes(s, steps, eps, KarrasRho)
	if err != nil {
		return err
	}
	w, err := newSampler(s, score, x, batch, seed, first)
	if err != nil {
		return err
	}
	w.prior()
	xh := make([]float64, len(x))
	m := s.Mean(1)
	for j, v := range x {
		xh[j] = float64(v) / m
	}
	// slope writes dxh/dsigma at time t for the scaled samples y.
	slope := func(t float64, y, dy []float64) error {
		m := s.Mean(t)
		for j, v := range y {
			w.x[j] = float32(m * v)
		}
		if err := w.evalScore(t); err != nil {
			return err
		}
		k := -noiseLevel(s, t) * m
		for j, g := range w.grad {
			dy[j] = k * float64(g)
		}
		return nil
	}
	sigmas := make([]float64, len(ts))
	for i, t := range ts {
		sigmas[i] = noiseLevel(s, t)
	}
	if _, err := fixedSteps(xh, sigmas, ts, heun, slope, progress); err != nil {
		return err
	}
	m = s.Mean(eps)
	for j, v := range xh {
		x[j] = float32(m * v)
	}
	return nil
}

// fixedSteps integrates dy/du = slope(t, y) over the grid u[0], u[1], ...
// (point k at time ts[k]) by one Euler step per interval, or with heun
// Heun's (the trapezoid of the slopes at both ends), calling progress, if
// not nil, after each step. It returns the evaluations of slope.
func fixedSteps(y, u, ts []float64, heun bool, slope func(t float64, y, dy []float64) error, progress func(i int)) (nfe int, err error) {
	d1, d2, tmp := make([]float64, len(y)), make([]float64, len(y)), make([]float64, len(y))
	for i := range len(u) - 1 {
		h := u[i+1] - u[i]
		nfe++
		if err := slope(ts[i], y, d1); err != nil {
			return nfe, fmt.Errorf("sde: step %d (t = %g): %w", i, ts[i], err)
		}
		if !heun {
			for j := range y {
				y[j] += h * d1[j]
			}
		} else {
			for j := range y {
				tmp[j] = y[j] + h*d1[j]
			}
			nfe++
			if err := slope(ts[i+1], tmp, d2); err != nil {
				return nfe, fmt.Errorf("sde: step %d (t = %g): %w", i, ts[i+1], err)
			}
			for j := range y {
				y[j] += h * (d1[j] + d2[j]) / 2
			}
		}
		if progress != nil {
			progress(i + 1)
		}
	}
	return nfe, nil
}
