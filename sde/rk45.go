package sde

import (
	"fmt"
	"math"
)

// Tolerances are the relative and absolute error tolerances of the
// adaptive ODE solver (scipy's rtol and atol; score_sde's ODE sampler and
// likelihood use 1e-5 for both).
type Tolerances struct{ RTol, ATol float64 }

// DefaultTolerances are score_sde's.
var DefaultTolerances = Tolerances{RTol: 1e-5, ATol: 1e-5}

func (tol Tolerances) check() error {
	if !(tol.RTol > 0 && tol.RTol < 1) || !(tol.ATol > 0) || math.IsInf(tol.ATol, 0) {
		return fmt.Errorf("sde: ODE tolerances rtol = %v, atol = %v, want 0 < rtol < 1 and a finite atol > 0", tol.RTol, tol.ATol)
	}
	return nil
}

// odeFunc writes dy/dt for every sample of a batch: sample i's state is
// y[i*n : (i+1)*n] at its own time t[i].
type odeFunc func(t, y, dy []float64) error

// The Dormand–Prince 5(4) tableau with FSAL, as scipy's RK45: the stages'
// times dpC, their weights dpA, the fifth-order solution's weights dpB and
// the error estimate's weights dpE (fifth- minus fourth-order, over all
// seven stages, the seventh being f at the new point).
var (
	dpC = [6]float64{0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1}
	dpA = [6][5]float64{
		{},
		{1.0 / 5},
		{3.0 / 40, 9.0 / 40},
		{44.0 / 45, -56.0 / 15, 32.0 / 9},
		{19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729},
		{9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656},
	}
	dpB = [6]float64{35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84}
	dpE = [7]float64{-71.0 / 57600, 0, 71.0 / 16695, -71.0 / 1920, 17253.0 / 339200, -22.0 / 525, 1.0 / 40}
)

// The step-size controller's constants, scipy's: the error estimate is of
// order 4, so a step's size changes by SAFETY * err^(-1/5), clamped to
// [minFactor, maxFactor].
const (
	rkSafety    = 0.9
	rkMinFactor = 0.2
	rkMaxFactor = 10
	rkExponent  = -1.0 / 5
)

// solveRK45 integrates dy/dt = f(t, y) for every sample of the batch (y
// holds batch states of n values, overwritten with their values at t1)
// from t0 to t1 (either direction) by the adaptive Dormand–Prince method,
// exactly as scipy.integrate.solve_ivp(method="RK45") steps one sample:
// the same tableau, initial step (Hairer, Nørsett and Wanner's rule),
// RMS error norm scaled by atol + rtol max(|y|, |y_new|), and controller.
// Each sample has its own step size and time, so a sample's path does not
// depend on the others of its batch; all samples' stages are evaluated
// together, and a sample that has arrived is evaluated at t1 and left
// alone. It returns the number of evaluations of f (each over the whole
// batch).
func solveRK45(f odeFunc, y []float64, batch int, t0, t1 float64, tol Tolerances) (nfe int, err error) {
	if err := tol.check(); err != nil {
		return 0, err
	}
	if batch < 1 || len(y)%batch != 0 {
		return 0, fmt.Errorf("sde: batch = %d does not divide len(y) = %d", batch, len(y))
	}
	if t0 == t1 {
		return 0, nil
	}
	r := newRK45(f, y, batch, t0, t1, tol)
	if err := r.eval(r.t, y, r.k[0]); err != nil {
		return r.nfe, err
	}
	if err := r.initialSteps(); err != nil {
		return r.nfe, err
	}
	for !r.allDone() {
		if err := r.attempt(); err != nil {
			return r.nfe, err
		}
	}
	return r.nfe, nil
}

// rk45 is one solveRK45 run.
type rk45 struct {
	f          odeFunc
	y          []float64 // [batch*n] the accepted states
	batch, n   int
	t1, dir    float64
	tol        Tolerances
	t, hAbs    []float64 // per sample: time and size of its next step
	done       []bool
	rejected   []bool       // per sample: the step being tried follows a rejection
	k          [7][]float64 // the stages; k[0] is f at (t, y)
	yNew, yTmp []float64
	ts, h      []float64 // per sample: a stage's time, the tried step (signed)
	tNew       []float64 // per sample: the time the tried step reaches
	nfe        int
}

func newRK45(f odeFunc, y []float64, batch int, t0, t1 float64, tol Tolerances) *rk45 {
	r := &rk45{f: f, y: y, batch: batch, n: len(y) / batch, t1: t1, dir: math.Copysign(1, t1-t0), tol: tol,
		t: make([]float64, batch), hAbs: make([]float64, batch), done: make([]bool, batch), rejected: make([]bool, batch),
		yNew: make([]float64, len(y)), yTmp: make([]float64, len(y)), ts: make([]float64, batch), h: make([]float64, batch), tNew: make([]float64, batch)}
	for i := range r.k {
		r.k[i] = make([]float64, len(y))
	}
	for i := range r.t {
		r.t[i] = t0
	}
	return r
}

func (r *rk45) eval(t, y, dy []float64) error {
	r.nfe++
	if err := r.f(t, y, dy); err != nil {
		return err
	}
	for _, v := range dy {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("sde: the ODE's right-hand side is %v (evaluation %d)", v, r.nfe)
		}
	}
	return nil
}

// rms is the root mean square of v[j] / scale[j].
func rms(v, scale []float64) float64 {
	var ss float64
	for j := range v {
		q := v[j] / scale[j]
		ss += q * q
	}
	return math.Sqrt(ss / float64(len(v)))
}

// initialSteps sets each sample's first step size by scipy's
// select_initial_step (one more evaluation of f).
func (r *rk45) initialSteps() error {
	n, span := r.n, math.Abs(r.t1-r.t[0])
	scale := make([]float64, n)
	d1 := make([]float64, r.batch)
	for i := range r.batch {
		y, f0 := r.y[i*n:(i+1)*n], r.k[0][i*n:(i+1)*n]
		for j, v := range y {
			scale[j] = r.tol.ATol + math.Abs(v)*r.tol.RTol
		}
		d0 := rms(y, scale)
		d1[i] = rms(f0, scale)
		h0 := 1e-6
		if d0 >= 1e-5 && d1[i] >= 1e-5 {
			h0 = 0.01 * d0 / d1[i]
		}
		r.hAbs[i] = min(h0, span)
		r.ts[i] = r.t[i] + r.dir*r.hAbs[i]
		for j := range y {
			r.yTmp[i*n+j] = y[j] + r.dir*r.hAbs[i]*f0[j]
		}
	}
	f1 := r.k[1]
	if err := r.eval(r.ts, r.yTmp, f1); err != nil {
		return err
	}
	diff := make([]float64, n)
	for i := range r.batch {
		y, f0 := r.y[i*n:(i+1)*n], r.k[0][i*n:(i+1)*n]
		for j, v := range y {
			scale[j] = r.tol.ATol + math.Abs(v)*r.tol.RTol
			diff[j] = f1[i*n+j] - f0[j]
		}
		h0 := r.hAbs[i]
		d2 := rms(diff, scale) / h0
		h1 := max(1e-6, h0*1e-3)
		if d1[i] > 1e-15 || d2 > 1e-15 {
			h1 = math.Pow(0.01/max(d1[i], d2), 1.0/5)
		}
		r.hAbs[i] = min(100*h0, h1, span)
	}
	return nil
}

func (r *rk45) allDone() bool {
	for _, d := range r.done {
		if !d {
			return false
		}
	}
	return true
}

// attempt tries one step for every sample that has not arrived, accepting
// or rejecting each sample's step on its own error estimate.
func (r *rk45) attempt() error {
	n := r.n
	for i := range r.batch {
		r.h[i], r.tNew[i] = 0, r.t[i]
		if r.done[i] {
			continue
		}
		t := r.t[i]
		minStep := 10 * math.Abs(math.Nextafter(t, r.dir*math.Inf(1))-t)
		if r.hAbs[i] < minStep && !r.rejected[i] {
			r.hAbs[i] = minStep // scipy starts every step at least this long
		}
		if r.hAbs[i] < minStep {
			return fmt.Errorf("sde: ODE step size %g at t = %g fell below the smallest step: the solution is too stiff for rtol = %g, atol = %g",
				r.hAbs[i], t, r.tol.RTol, r.tol.ATol)
		}
		tNew := t + r.dir*r.hAbs[i]
		if r.dir*(tNew-r.t1) > 0 {
			tNew = r.t1
		}
		r.h[i], r.tNew[i] = tNew-t, tNew
	}
	// Stages 2 to 6, then f at the fifth-order solution (FSAL).
	for s := 1; s < 6; s++ {
		for i := range r.batch {
			h := r.h[i]
			r.ts[i] = r.t[i] + dpC[s]*h
			for j := i * n; j < (i+1)*n; j++ {
				var dy float64
				for q := range s {
					dy += dpA[s][q] * r.k[q][j]
				}
				r.yTmp[j] = r.y[j] + h*dy
			}
		}
		if err := r.eval(r.ts, r.yTmp, r.k[s]); err != nil {
			return err
		}
	}
	for i := range r.batch {
		h := r.h[i]
		for j := i * n; j < (i+1)*n; j++ {
			var dy float64
			for q := range 6 {
				dy += dpB[q] * r.k[q][j]
			}
			r.yNew[j] = r.y[j] + h*dy
		}
	}
	if err := r.eval(r.tNew, r.yNew, r.k[6]); err != nil {
		return err
	}
	for i := range r.batch {
		if !r.done[i] {
			r.control(i)
		}
	}
	return nil
}

// control accepts or rejects sample i's tried step and sets its next step
// size, as scipy's RK45._step_impl.
func (r *rk45) control(i int) {
	n, h := r.n, r.h[i]
	var ss float64
	for j := i * n; j < (i+1)*n; j++ {
		var e float64
		for q := range 7 {
			e += dpE[q] * r.k[q][j]
		}
		scale := r.tol.ATol + max(math.Abs(r.y[j]), math.Abs(r.yNew[j]))*r.tol.RTol
		q := h * e / scale
		ss += q * q
	}
	errNorm := math.Sqrt(ss / float64(n))
	if errNorm >= 1 {
		r.hAbs[i] = math.Abs(h) * max(rkMinFactor, rkSafety*math.Pow(errNorm, rkExponent))
		r.rejected[i] = true
		return
	}
	factor := float64(rkMaxFactor)
	if errNorm > 0 {
		factor = min(rkMaxFactor, rkSafety*math.Pow(errNorm, rkExponent))
	}
	if r.rejected[i] {
		factor = min(1, factor)
	}
	r.hAbs[i] = math.Abs(h) * factor
	r.rejected[i] = false
	r.t[i] = r.tNew[i]
	copy(r.y[i*n:(i+1)*n], r.yNew[i*n:(i+1)*n])
	copy(r.k[0][i*n:(i+1)*n], r.k[6][i*n:(i+1)*n])
	if r.t[i] == r.t1 {
		r.done[i] = true
	}
}
