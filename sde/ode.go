package sde

import "fmt"

// The probability-flow ODE (Song et al. 2021, eq. 13) shares the SDE's
// marginals p_t but is deterministic:
//
//	dx/dt = f(t) x - 1/2 g(t)^2 grad_x log p_t(x)
//
// Integrated from the prior at t = 1 down to eps it samples; from eps up
// to 1 it encodes data to latents, and it is invertible, which gives exact
// likelihoods (likelihood.go). score_sde solves it with scipy's RK45; so
// does Flow here.

// flowODE is the probability-flow ODE of s with the score function score
// as an odeFunc over float64 states of dim values per sample. The score
// sees float32 copies of x and t.
type flowODE struct {
	sde   SDE
	score ScoreFunc
	dim   int
	x, t  []float32 // float32 copies of the state and times
	s     []float32 // the score
}

func newFlowODE(s SDE, score ScoreFunc, batch, dim int) *flowODE {
	return &flowODE{sde: s, score: score, dim: dim,
		x: make([]float32, batch*dim), t: make([]float32, batch), s: make([]float32, batch*dim)}
}

// drift writes dx/dt for states x of o.dim values per sample, x and dx
// holding stride values per sample (the likelihood appends one).
func (o *flowODE) drift(t, x, dx []float64, stride int) error {
	d := o.dim
	for i, ti := range t {
		o.t[i] = float32(ti)
		for j := range d {
			o.x[i*d+j] = float32(x[i*stride+j])
		}
	}
	if err := o.score(o.x, o.t, o.s); err != nil {
		return err
	}
	for i, ti := range t {
		f, g := o.sde.DriftCoef(ti), o.sde.Diffusion(ti)
		half := 0.5 * g * g
		for j := range d {
			dx[i*stride+j] = f*x[i*stride+j] - half*float64(o.s[i*d+j])
		}
	}
	return nil
}

// Flow integrates the probability-flow ODE of s, with score function
// score, for the batch x (batch samples, overwritten) from time `from` to
// time `to` by adaptive RK45 with the tolerances tol (in float64; the
// score sees float32). From eps to 1 it encodes data to the prior's
// latents, from 1 to eps it decodes them. It returns the number of
// evaluations of the score (each over the whole batch). Each sample takes
// its own steps, so it does not depend on the rest of its batch (up to
// the score function's own dependence on it).
func Flow(s SDE, score ScoreFunc, x []float32, batch int, from, to float64, tol Tolerances) (nfe int, err error) {
	if err := checkSDE(s); err != nil {
		return 0, err
	}
	if score == nil {
		return 0, fmt.Errorf("sde: no score function")
	}
	if batch < 1 || len(x) < batch || len(x)%batch != 0 {
		return 0, fmt.Errorf("sde: batch = %d does not divide len(x) = %d into non-empty samples", batch, len(x))
	}
	if !(from >= 0 && from <= 1 && to >= 0 && to <= 1) {
		return 0, fmt.Errorf("sde: ODE from t = %v to t = %v, want times in [0, 1]", from, to)
	}
	dim := len(x) / batch
	o := newFlowODE(s, score, batch, dim)
	y := make([]float64, len(x))
	for j, v := range x {
		y[j] = float64(v)
	}
	f := func(t, y, dy []float64) error { return o.drift(t, y, dy, dim) }
	if nfe, err = solveRK45(f, y, batch, from, to, tol); err != nil {
		return nfe, err
	}
	for j, v := range y {
		x[j] = float32(v)
	}
	return nfe, nil
}

// ODESample draws samples by the probability-flow ODE, as score_sde's
// ode_sampler: x (batch samples) is set to draw 0 of StreamPrior under
// seed, keyed by each sample's index in the run (first, first+1, ...; as
// EulerMaruyama), scaled by the prior's std, and carried by Flow from t = 1
// down to eps. Unlike score_sde's ode_sampler with noise_removal (on in
// its configs), and unlike the other samplers here, it ends at eps with no
// final denoising step, as do ODEEuler's; the sample-quality figures of
// the ODE samplers in the README are of that. It returns the number of
// evaluations of the score.
func ODESample(s SDE, score ScoreFunc, x []float32, batch int, eps float64, tol Tolerances, seed uint64, first int) (nfe int, err error) {
	if err := checkSDE(s); err != nil {
		return 0, err
	}
	if err := checkGrid(1, eps); err != nil {
		return 0, err
	}
	w, err := newSampler(s, score, x, batch, seed, first)
	if err != nil {
		return 0, err
	}
	w.prior()
	return Flow(s, score, x, batch, 1, eps, tol)
}
