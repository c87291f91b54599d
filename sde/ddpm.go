package sde

import (
	"fmt"
	"math"
	"slices"
)

// DDPM is the discrete-time diffusion of Ho et al. 2020: N steps with the
// linear betas beta_k = linspace(beta_min/N, beta_max/N, N) (1e-4 to 0.02
// for score_sde's VP parameters 0.1, 20 and N = 1000, DDPM's own), and
//
//	x_k = sqrt(abar_k) x0 + sqrt(1 - abar_k) eps,  abar_k = prod_{s <= k} (1 - beta_s).
//
// Time k is t = k/N here, so that the network sees t as the other SDEs'
// (its time embedding scales t by 1000), training draws k uniformly from
// 1..N (Perturb snaps t up to a multiple of 1/N), and Mean(t) and Std(t)
// are those of k = round(t N): the samplers that step between noise levels
// (Ancestral is DDPM's Algorithm 2 with sigma_k^2 = beta_k, and DDIM) then
// run it unchanged on grids of such times. It has no continuous drift:
// em, pc and the ODE samplers refuse it (configs.Samplers).
type DDPM struct {
	betaMin, betaMax float64
	n                int
	logAbar          []float64 // [N+1] log abar_k, abar_0 = 1
}

// NewDDPM returns the DDPM schedule of n steps; it needs 0 < betaMin <=
// betaMax and n >= 1, and beta_max/N below 1.
func NewDDPM(betaMin, betaMax float64, n int) (*DDPM, error) {
	if err := checkBetas(betaMin, betaMax, n); err != nil {
		return nil, err
	}
	if betaMax/float64(n) >= 1 {
		return nil, fmt.Errorf("sde: beta_max/N = %v, want below 1", betaMax/float64(n))
	}
	d := &DDPM{betaMin: betaMin, betaMax: betaMax, n: n, logAbar: make([]float64, n+1)}
	a, b := betaMin/float64(n), betaMax/float64(n)
	for k := 1; k <= n; k++ {
		beta := a
		if n > 1 {
			beta = a + float64(k-1)*(b-a)/float64(n-1)
		}
		d.logAbar[k] = d.logAbar[k-1] + math.Log1p(-beta)
	}
	return d, nil
}

// step is k = round(t N), within 0..N.
func (s *DDPM) step(t float64) int {
	return max(0, min(s.n, int(math.Round(t*float64(s.n)))))
}

// snap is the training time of a draw t in (0, 1]: the next multiple of
// 1/N, so that k is uniform on 1..N.
func (s *DDPM) snap(t float32) float32 {
	return float32(math.Ceil(float64(t)*float64(s.n)-1e-9) / float64(s.n))
}

// Mean is sqrt(abar_k), k = round(t N).
func (s *DDPM) Mean(t float64) float64 { return math.Exp(0.5 * s.logAbar[s.step(t)]) }

// Std is sqrt(1 - abar_k).
func (s *DDPM) Std(t float64) float64 { return math.Sqrt(-math.Expm1(s.logAbar[s.step(t)])) }

// DriftCoef and Diffusion are the VP SDE's, DDPM's continuous limit; no
// sampler here integrates them for DDPM.
func (s *DDPM) DriftCoef(t float64) float64 { return -0.5 * linearBeta(s.betaMin, s.betaMax, t) }

// Diffusion is the VP SDE's sqrt(beta(t)).
func (s *DDPM) Diffusion(t float64) float64 { return math.Sqrt(linearBeta(s.betaMin, s.betaMax, t)) }

// PriorStd is 1: x_N is nearly N(0, I).
func (s *DDPM) PriorStd() float64 { return 1 }

// PriorLogP is log N(x; 0, I).
func (s *DDPM) PriorLogP(x []float32) float64 { return gaussianLogP(x, 1) }

// N is the number of steps.
func (s *DDPM) N() int { return s.n }

// Kernel names DDPM to the CUDA kernels by its table of log abar_k (a
// copy, so that no caller can change the schedule).
func (s *DDPM) Kernel() Kernel { return Kernel{Kind: KindDDPM, LogAbar: slices.Clone(s.logAbar)} }
