// Package sde holds the forward SDEs of score-based generative modelling
// (Song et al. 2021, "Score-Based Generative Modeling through Stochastic
// Differential Equations"; its code score_sde): the VE, VP and sub-VP SDEs
// with their perturbation kernels and priors, the noising of a training
// batch, and the reverse-time samplers (Euler–Maruyama, predictor–corrector
// with a Langevin corrector, plain Langevin dynamics).
//
// Every SDE here is linear with a scalar drift coefficient,
//
//	dx = f(t) x dt + g(t) dW,  t in [0, 1]                       (eq. 5)
//
// so its perturbation kernel is Gaussian, p_t(x | x0) = N(m(t) x0, s(t)^2 I)
// (appendix B), and its reverse-time SDE (Anderson 1982) is
//
//	dx = [f(t) x - g(t)^2 grad_x log p_t(x)] dt + g(t) dW̄        (eq. 6)
//
// The formulas follow score_sde's sde_lib.py, sampling.py and losses.py.
package sde

import (
	"fmt"
	"math"
)

// SDE is a linear forward SDE dx = f(t) x dt + g(t) dW on t in [0, 1] with a
// Gaussian perturbation kernel and a Gaussian prior N(0, PriorStd()^2 I).
type SDE interface {
	// DriftCoef is f(t): the drift is f(t) x.
	DriftCoef(t float64) float64
	// Diffusion is g(t).
	Diffusion(t float64) float64
	// Marginal is the kernel p_t(x|x0) = N(Mean(t) x0, Std(t)^2 I).
	Marginal
	// PriorStd is the standard deviation of the prior p_T = N(0, PriorStd^2 I).
	PriorStd() float64
	// PriorLogP is log p_T(x) for one sample x (all its elements).
	PriorLogP(x []float32) float64
	// N is the number of discretisation steps (score_sde's N): the VP-type
	// Langevin corrector uses the discrete betas linspace(beta_min/N, beta_max/N, N).
	N() int
	// Kernel names the SDE to the CUDA kernels.
	Kernel() Kernel
}

// Marginal is a Gaussian perturbation kernel p_t(x|x0) = N(Mean(t) x0,
// Std(t)^2 I): an SDE's, or flow matching's linear path (flow.go).
type Marginal interface {
	// Mean is m(t) of the kernel.
	Mean(t float64) float64
	// Std is s(t) of the kernel.
	Std(t float64) float64
}

// Kernel is how the CUDA kernels name an SDE (SDE_* in
// kernels/common.cuh): its kind, and its parameters, VE's sigma_min and
// sigma_max or VP's and sub-VP's beta_min and beta_max in A and B, or
// DDPM's table in LogAbar. DDPM's schedule is a running sum of log(1 -
// beta), so the kernels take the table that Mean and Std read rather than
// recompute it, and agree with them to the rounding of exp.
type Kernel struct {
	Kind KernelKind
	A, B float64
	// LogAbar is DDPM's log abar_k, k = 0..N, which the backend uploads
	// once; nil for the continuous kinds.
	LogAbar []float64
}

// KernelKind is the kind of an SDE for the kernels.
type KernelKind int

// The kinds, numbered as kernels/common.cuh numbers them.
const (
	KindVE KernelKind = iota
	KindVP
	KindSubVP
	KindFlow // flow matching's linear path (flow.go)
	KindDDPM // DDPM's discrete steps (ddpm.go)
)

// gaussianLogP is log N(x; 0, std^2 I) for one sample:
// -D/2 log(2 pi std^2) - ||x||^2 / (2 std^2), as score_sde's prior_logp.
func gaussianLogP(x []float32, std float64) float64 {
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	d := float64(len(x))
	return -d/2*math.Log(2*math.Pi*std*std) - ss/(2*std*std)
}

// checkPositive rejects a parameter that is not a finite positive number.
func checkPositive(name string, v float64) error {
	if !(v > 0) || math.IsInf(v, 0) {
		return fmt.Errorf("sde: %s = %v, want a finite positive number", name, v)
	}
	return nil
}

// checkN rejects a step count below one.
func checkN(n int) error {
	if n < 1 {
		return fmt.Errorf("sde: n = %d discretisation steps, want at least 1", n)
	}
	return nil
}
