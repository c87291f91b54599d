package sde

import (
	"fmt"
	"math"
)

// Exact likelihoods through the probability-flow ODE (Song et al. 2021,
// section 4.3 and appendix D.2; score_sde's likelihood.py). Along the ODE's
// path x(t) from data x(eps) to the latent x(1),
//
//	log p_eps(x(eps)) = log p_1(x(1)) + integral_eps^1 div f~(x(t), t) dt
//
// with f~ the ODE's drift f(t) x - 1/2 g(t)^2 s(x, t). Its divergence,
// f(t) D - 1/2 g(t)^2 tr(ds/dx), is estimated by Hutchinson's
// tr(A) = E[v^T A v] with one probe v per sample, fixed over the
// integration (FFJORD; score_sde): v^T (ds/dx) v is a vector-Jacobian
// product of the network, at the cost of about one backward pass.

// ScoreDivFunc evaluates a score model s(x, t) on a batch as ScoreFunc
// does and, for each sample i, the quadratic form probe_i^T (ds/dx)(x_i,
// t_i) probe_i of the score's Jacobian with that sample's probe (quad[i]).
// probe is [B*D] like x. It must not keep its arguments.
type ScoreDivFunc func(x, t, probe, score []float32, quad []float64) error

// Probe is the distribution of Hutchinson's probe vectors.
type Probe int

const (
	// Rademacher probes are ±1 with equal odds: the estimator's variance is
	// the smallest of all probes with E[v v^T] = I, and for a diagonal
	// Jacobian it is exact. score_sde's default.
	Rademacher Probe = iota
	// Gaussian probes are N(0, I).
	Gaussian
)

func (p Probe) String() string {
	switch p {
	case Rademacher:
		return "rademacher"
	case Gaussian:
		return "gaussian"
	}
	return fmt.Sprintf("Probe(%d)", int(p))
}

// Probes writes the probes of samples first, first+1, ... (len(v) / dim
// of them) to v: element j is element first*dim + j of draw 0 of
// StreamProbe under seed, a standard normal, or for Rademacher its sign.
func Probes(v []float32, dim int, p Probe, seed uint64, first int) error {
	if p != Rademacher && p != Gaussian {
		return fmt.Errorf("sde: unknown probe %v (want rademacher or gaussian)", p)
	}
	off, err := NoiseOffset(first, max(1, len(v)/max(dim, 1)), dim)
	if err != nil {
		return err
	}
	Normals(v, seed, StreamProbe, 0, off)
	if p == Rademacher {
		for j, z := range v {
			v[j] = float32(math.Copysign(1, float64(z)))
		}
	}
	return nil
}

// Likelihood is the log-density log p_eps(x) in nats of each sample of the
// batch x (batch samples of D values, unchanged) under the probability-
// flow ODE of s with the score and Hutchinson quadratic form of f, as
// score_sde's likelihood_fn: x and its log-density's change are carried
// together from t = eps to t = 1 by RK45 with the tolerances tol (one
// state of D + 1 values per sample, the error control covering both),
// and log p_1 is s.PriorLogP. The probes are Probes(p, seed, first): fixed
// for the whole integration, keyed by each sample's index in the run. It
// returns the log-densities, the latents x(1) in z (if not nil) and the
// number of evaluations of f.
//
// For data quantised to 256 levels and scaled to [-1, 1], bits/dim is
// -logp / (D ln 2) + 7 (score_sde's offset: the density of [0, 256)^D is
// 128^-D that of [-1, 1)^D), with uniform dequantisation of the data.
func Likelihood(s SDE, f ScoreDivFunc, x []float32, batch int, eps float64, tol Tolerances, p Probe, seed uint64, first int, z []float32) (logp []float64, nfe int, err error) {
	if err := checkSDE(s); err != nil {
		return nil, 0, err
	}
	if f == nil {
		return nil, 0, fmt.Errorf("sde: no score function")
	}
	if batch < 1 || len(x) < batch || len(x)%batch != 0 {
		return nil, 0, fmt.Errorf("sde: batch = %d does not divide len(x) = %d into non-empty samples", batch, len(x))
	}
	if err := checkGrid(1, eps); err != nil {
		return nil, 0, err
	}
	if z != nil && len(z) != len(x) {
		return nil, 0, fmt.Errorf("sde: latents of %d values for %d samples of %d", len(z), batch, len(x)/batch)
	}
	d := len(x) / batch
	probe := make([]float32, len(x))
	if err := Probes(probe, d, p, seed, first); err != nil {
		return nil, 0, err
	}
	quad := make([]float64, batch)
	o := newFlowODE(s, func(x, t, score []float32) error { return f(x, t, probe, score, quad) }, batch, d)
	rhs := func(t, y, dy []float64) error {
		if err := o.drift(t, y, dy, d+1); err != nil {
			return err
		}
		// The drift's divergence: f(t) D - 1/2 g(t)^2 tr(ds/dx).
		for i, ti := range t {
			g := s.Diffusion(ti)
			dy[i*(d+1)+d] = s.DriftCoef(ti)*float64(d) - 0.5*g*g*quad[i]
		}
		return nil
	}
	y := make([]float64, batch*(d+1))
	for i := range batch {
		for j := range d {
			y[i*(d+1)+j] = float64(x[i*d+j])
		}
	}
	if nfe, err = solveRK45(rhs, y, batch, eps, 1, tol); err != nil {
		return nil, nfe, err
	}
	logp = make([]float64, batch)
	latent := make([]float32, d)
	for i := range batch {
		for j := range d {
			latent[j] = float32(y[i*(d+1)+j])
		}
		if z != nil {
			copy(z[i*d:(i+1)*d], latent)
		}
		logp[i] = s.PriorLogP(latent) + y[i*(d+1)+d]
	}
	return logp, nfe, nil
}

// Dequantize writes, for pixels of 256 levels, the uniformly dequantised
// data scaled to [-1, 1): x_j = (pixel_j + u_j) / 128 - 1, with u_j the
// uniform of element off + j of (seed, StreamDequant, draw 0), as score_sde
// dequantises before its likelihood (its (u + 255 x) / 256 on [0, 1] data,
// then centred).
func Dequantize(x []float32, pixels []byte, seed uint64, off int) {
	Uniforms(x[:len(pixels)], seed, StreamDequant, 0, off)
	for j, p := range pixels {
		x[j] = float32((float64(p)+float64(x[j]))/128 - 1)
	}
}
