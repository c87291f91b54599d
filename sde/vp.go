package sde

import (
	"fmt"
	"math"
)

// VP is the variance-preserving SDE (eq. 11; appendix B), the continuous
// limit of DDPM: dx = -beta(t)/2 x dt + sqrt(beta(t)) dW with the linear
// schedule beta(t) = beta_min + t (beta_max - beta_min).
type VP struct {
	betaMin, betaMax float64
	n                int
}

// NewVP returns the VP SDE; it needs 0 < betaMin <= betaMax and n >= 1.
func NewVP(betaMin, betaMax float64, n int) (*VP, error) {
	if err := checkBetas(betaMin, betaMax, n); err != nil {
		return nil, err
	}
	return &VP{betaMin, betaMax, n}, nil
}

// checkBetas validates the parameters that the VP and sub-VP SDEs share.
func checkBetas(betaMin, betaMax float64, n int) error {
	if err := checkPositive("beta_min", betaMin); err != nil {
		return err
	}
	if err := checkPositive("beta_max", betaMax); err != nil {
		return err
	}
	if betaMin > betaMax {
		return fmt.Errorf("sde: beta_min = %v must not exceed beta_max = %v", betaMin, betaMax)
	}
	return checkN(n)
}

// linearBeta is beta(t) = beta_min + t (beta_max - beta_min).
func linearBeta(betaMin, betaMax, t float64) float64 { return betaMin + t*(betaMax-betaMin) }

// logMeanCoeff is log m(t) = -integral_0^t beta/2 = -t^2 (beta_max-beta_min)/4 - t beta_min/2
// (appendix B; score_sde's log_mean_coeff).
func logMeanCoeff(betaMin, betaMax, t float64) float64 {
	return -0.25*t*t*(betaMax-betaMin) - 0.5*t*betaMin
}

// discreteAlpha is score_sde's alphas[timestep] = 1 - discrete_betas[timestep]
// with discrete_betas = linspace(beta_min/N, beta_max/N, N) and
// timestep = floor(t (N-1)): the DDPM alpha_i that the Langevin corrector
// scales its step by (Algorithm 5, appendix G).
func discreteAlpha(betaMin, betaMax float64, n int, t float64) float64 {
	if n == 1 {
		return 1 - betaMin // linspace of one point is its start
	}
	i := math.Floor(t * float64(n-1)) // torch's .long() truncates; t >= 0
	i = math.Max(0, math.Min(i, float64(n-1)))
	a, b := betaMin/float64(n), betaMax/float64(n)
	return 1 - (a + i*(b-a)/float64(n-1))
}

// Beta is beta(t).
func (s *VP) Beta(t float64) float64 { return linearBeta(s.betaMin, s.betaMax, t) }

// DriftCoef is f(t) = -beta(t)/2.
func (s *VP) DriftCoef(t float64) float64 { return -0.5 * s.Beta(t) }

// Diffusion is g(t) = sqrt(beta(t)).
func (s *VP) Diffusion(t float64) float64 { return math.Sqrt(s.Beta(t)) }

// Mean is m(t) = exp(log_mean_coeff(t)) (appendix B).
func (s *VP) Mean(t float64) float64 { return math.Exp(logMeanCoeff(s.betaMin, s.betaMax, t)) }

// Std is sqrt(1 - exp(2 log_mean_coeff)) (appendix B); expm1 keeps it accurate
// for small t, where 1 - exp(.) would cancel.
func (s *VP) Std(t float64) float64 {
	return math.Sqrt(-math.Expm1(2 * logMeanCoeff(s.betaMin, s.betaMax, t)))
}

// PriorStd is 1: the prior is N(0, I).
func (s *VP) PriorStd() float64 { return 1 }

// PriorLogP is log N(x; 0, I).
func (s *VP) PriorLogP(x []float32) float64 { return gaussianLogP(x, 1) }

// N is the number of discretisation steps.
func (s *VP) N() int { return s.n }

// langevinAlpha is the corrector's alpha for VP-type SDEs.
func (s *VP) langevinAlpha(t float64) float64 { return discreteAlpha(s.betaMin, s.betaMax, s.n, t) }

// Kernel names the SDE to the CUDA kernels.
func (s *VP) Kernel() Kernel { return Kernel{Kind: KindVP, A: s.betaMin, B: s.betaMax} }
