package sde

import "math"

// SubVP is the sub-VP SDE (eq. 12): the VP drift with the diffusion
// g(t) = sqrt(beta(t) (1 - exp(-2 integral_0^t beta))), whose variance is
// bounded by the VP SDE's at every t (appendix B).
type SubVP struct {
	betaMin, betaMax float64
	n                int
}

// NewSubVP returns the sub-VP SDE; it needs 0 < betaMin <= betaMax and n >= 1.
func NewSubVP(betaMin, betaMax float64, n int) (*SubVP, error) {
	if err := checkBetas(betaMin, betaMax, n); err != nil {
		return nil, err
	}
	return &SubVP{betaMin, betaMax, n}, nil
}

// Beta is beta(t) = beta_min + t (beta_max - beta_min).
func (s *SubVP) Beta(t float64) float64 { return linearBeta(s.betaMin, s.betaMax, t) }

// DriftCoef is f(t) = -beta(t)/2, as for VP.
func (s *SubVP) DriftCoef(t float64) float64 { return -0.5 * s.Beta(t) }

// Diffusion is sqrt(beta(t) (1 - exp(-2 beta_min t - (beta_max-beta_min) t^2)))
// (score_sde's "discount"; expm1 for accuracy near t = 0).
func (s *SubVP) Diffusion(t float64) float64 {
	discount := -math.Expm1(-2*s.betaMin*t - (s.betaMax-s.betaMin)*t*t)
	return math.Sqrt(s.Beta(t) * discount)
}

// Mean is exp(log_mean_coeff(t)), as for VP.
func (s *SubVP) Mean(t float64) float64 { return math.Exp(logMeanCoeff(s.betaMin, s.betaMax, t)) }

// Std is 1 - exp(2 log_mean_coeff(t)): the variance is its square, not the
// VP variance 1 - exp(2 lmc) itself (appendix B).
func (s *SubVP) Std(t float64) float64 {
	return -math.Expm1(2 * logMeanCoeff(s.betaMin, s.betaMax, t))
}

// PriorStd is 1: the prior is N(0, I).
func (s *SubVP) PriorStd() float64 { return 1 }

// PriorLogP is log N(x; 0, I).
func (s *SubVP) PriorLogP(x []float32) float64 { return gaussianLogP(x, 1) }

// N is the number of discretisation steps.
func (s *SubVP) N() int { return s.n }

// langevinAlpha uses the VP discrete alphas (score_sde's subVPSDE has no
// alphas attribute; the corrector treats it as VP-type).
func (s *SubVP) langevinAlpha(t float64) float64 {
	return discreteAlpha(s.betaMin, s.betaMax, s.n, t)
}

// Kernel names the SDE to the CUDA kernels.
func (s *SubVP) Kernel() Kernel { return Kernel{Kind: KindSubVP, A: s.betaMin, B: s.betaMax} }
