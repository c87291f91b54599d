package sde

import (
	"fmt"
	"math"
)

// VE is the variance-exploding SDE (eq. 9; appendix B), the continuous
// limit of SMLD/NCSN: dx = sqrt(d[sigma^2(t)]/dt) dW with the geometric
// noise scale sigma(t) = sigma_min (sigma_max/sigma_min)^t. As in score_sde,
// the kernel is N(x0, sigma(t)^2 I), that is x(0) carries noise sigma_min.
type VE struct {
	sigmaMin, sigmaMax float64
	logRatio           float64 // ln(sigma_max / sigma_min)
	n                  int
}

// NewVE returns the VE SDE; it needs 0 < sigmaMin < sigmaMax and n >= 1.
func NewVE(sigmaMin, sigmaMax float64, n int) (*VE, error) {
	if err := checkPositive("sigma_min", sigmaMin); err != nil {
		return nil, err
	}
	if err := checkPositive("sigma_max", sigmaMax); err != nil {
		return nil, err
	}
	if sigmaMin >= sigmaMax {
		return nil, fmt.Errorf("sde: sigma_min = %v must be less than sigma_max = %v", sigmaMin, sigmaMax)
	}
	if err := checkN(n); err != nil {
		return nil, err
	}
	return &VE{sigmaMin, sigmaMax, math.Log(sigmaMax / sigmaMin), n}, nil
}

// Sigma is sigma(t) = sigma_min (sigma_max/sigma_min)^t.
func (s *VE) Sigma(t float64) float64 { return s.sigmaMin * math.Exp(t*s.logRatio) }

// DriftCoef is 0: the VE SDE has no drift.
func (s *VE) DriftCoef(float64) float64 { return 0 }

// Diffusion is sqrt(d sigma^2/dt) = sigma(t) sqrt(2 ln(sigma_max/sigma_min)).
func (s *VE) Diffusion(t float64) float64 { return s.Sigma(t) * math.Sqrt(2*s.logRatio) }

// Mean is 1: VE noise is added, never scaled.
func (s *VE) Mean(float64) float64 { return 1 }

// Std is sigma(t): score_sde's marginal_prob. Appendix B gives the kernel
// variance sigma(t)^2 - sigma(0)^2; score_sde drops sigma(0)^2, which is exact
// when x(0) itself carries noise sigma_min.
func (s *VE) Std(t float64) float64 { return s.Sigma(t) }

// PriorStd is sigma_max: the prior is N(0, sigma_max^2 I).
func (s *VE) PriorStd() float64 { return s.sigmaMax }

// PriorLogP is log N(x; 0, sigma_max^2 I).
func (s *VE) PriorLogP(x []float32) float64 { return gaussianLogP(x, s.sigmaMax) }

// N is the number of discretisation steps.
func (s *VE) N() int { return s.n }

// Kernel names the SDE to the CUDA kernels.
func (s *VE) Kernel() Kernel { return Kernel{Kind: KindVE, A: s.sigmaMin, B: s.sigmaMax} }
