package sde

import (
	"math"
	"testing"
)

// expODE is dy/dt = lambda_i cos(t) y for sample i (one value each), whose
// solution is y0 exp(lambda_i (sin t - sin t0)).
func expODE(lambda []float64) odeFunc {
	return func(t, y, dy []float64) error {
		for i := range t {
			dy[i] = lambda[i] * math.Cos(t[i]) * y[i]
		}
		return nil
	}
}

// TestRK45ClosedForm checks the error control on an ODE with a closed
// form, forwards and backwards: the global error follows the tolerance
// (within a small multiple of it), and a tighter tolerance costs more
// evaluations and errs less.
func TestRK45ClosedForm(t *testing.T) {
	lambda := []float64{0.5, -1, 2, 3}
	for _, span := range [][2]float64{{0, 3}, {2.5, -1}} {
		t0, t1 := span[0], span[1]
		prevErr, prevNFE := math.Inf(1), 0
		for _, tol := range []float64{1e-4, 1e-6, 1e-8} {
			y := []float64{1, 2, -0.5, 0.1}
			want := make([]float64, len(y))
			for i := range y {
				want[i] = y[i] * math.Exp(lambda[i]*(math.Sin(t1)-math.Sin(t0)))
			}
			nfe, err := solveRK45(expODE(lambda), y, len(y), t0, t1, Tolerances{tol, tol})
			if err != nil {
				t.Fatal(err)
			}
			worst := 0.0
			for i := range y {
				worst = max(worst, math.Abs(y[i]-want[i])/(tol+tol*math.Abs(want[i])))
			}
			if worst > 20 {
				t.Errorf("%v to %v, tol %g: error %.1f times the tolerance, want at most 20", t0, t1, tol, worst)
			}
			e := 0.0
			for i := range y {
				e = max(e, math.Abs(y[i]-want[i]))
			}
			if !(e < prevErr && nfe > prevNFE) {
				t.Errorf("%v to %v, tol %g: error %g with %d evaluations, after %g with %d at a looser tolerance", t0, t1, tol, e, nfe, prevErr, prevNFE)
			}
			prevErr, prevNFE = e, nfe
			// Two evaluations to start, then six per attempted step.
			if (nfe-2)%6 != 0 {
				t.Errorf("%d evaluations, want 2 + 6 per step", nfe)
			}
		}
	}
}

// TestRK45SamplesIndependent checks that each sample takes its own steps:
// a sample solved alone ends bit for bit where it ends in a batch with a
// harder sample, which needs more steps.
func TestRK45SamplesIndependent(t *testing.T) {
	alone := []float64{1.5}
	nAlone, err := solveRK45(expODE([]float64{0.7}), alone, 1, 0, 2, DefaultTolerances)
	if err != nil {
		t.Fatal(err)
	}
	both := []float64{1.5, 1}
	nBoth, err := solveRK45(expODE([]float64{0.7, 25}), both, 2, 0, 2, DefaultTolerances)
	if err != nil {
		t.Fatal(err)
	}
	if both[0] != alone[0] {
		t.Errorf("sample in a batch ends at %v, alone at %v", both[0], alone[0])
	}
	if nBoth <= nAlone {
		t.Errorf("the harder batch took %d evaluations, the easy sample alone %d: the test does not test", nBoth, nAlone)
	}
}

// TestRK45BadInput checks the solver's refusals.
func TestRK45BadInput(t *testing.T) {
	y := []float64{1, 2}
	for _, tol := range []Tolerances{{0, 1e-5}, {1e-5, 0}, {1, 1e-5}, {1e-5, math.Inf(1)}, {math.NaN(), 1e-5}} {
		if _, err := solveRK45(expODE([]float64{1, 1}), y, 2, 0, 1, tol); err == nil {
			t.Errorf("tolerances %+v accepted", tol)
		}
	}
	if _, err := solveRK45(expODE([]float64{1, 1}), y, 3, 0, 1, DefaultTolerances); err == nil {
		t.Error("batch 3 of 2 values accepted")
	}
	nan := func(t, y, dy []float64) error {
		for i := range dy {
			dy[i] = math.NaN()
		}
		return nil
	}
	if _, err := solveRK45(nan, y, 2, 0, 1, DefaultTolerances); err == nil {
		t.Error("a NaN right-hand side was integrated")
	}
}

// TestODESampleMixture samples the probability-flow ODE with the exact
// score of a Gaussian mixture from each SDE's prior and checks that it
// returns the mixture, as the SDE samplers' tests do. VE's sigma_max is
// 50 here, not the SDE samplers' 10: the ODE is deterministic, so where
// the prior N(0, sigma_max^2) differs from the true p_1 (the mixture
// blurred by sigma_max) the error is carried to the samples, which the
// SDE's noise would wash out.
func TestODESampleMixture(t *testing.T) {
	for i, s := range testSDEs(t) {
		x := make([]float32, 2*mixN)
		nfe, err := ODESample(s, testMixture.score(s), x, mixN, mixEps, DefaultTolerances, uint64(i+20), 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("ODE %s: %d score evaluations", name(s), nfe)
		checkMixture(t, "ODE "+name(s), toPoints(x))
	}
}

// TestFlowInvertible encodes mixture samples to the prior and decodes them:
// the probability-flow ODE is deterministic and invertible, so they come
// back within 1e-3 at rtol = atol = 1e-6. (At the default 1e-5 VP's round
// trip is off by up to 4e-3: each way's global error is some hundred
// times the tolerance near the mixture's narrow modes.)
func TestFlowInvertible(t *testing.T) {
	tol := Tolerances{RTol: 1e-6, ATol: 1e-6}
	for i, s := range mixtureSDEs(t) {
		const n = 500
		x := make([]float32, 2*n)
		if err := EulerMaruyama(s, testMixture.score(s), x, n, 200, mixEps, uint64(i+30), 0, nil); err != nil {
			t.Fatal(err)
		}
		orig := append([]float32(nil), x...)
		if _, err := Flow(s, testMixture.score(s), x, n, mixEps, 1, tol); err != nil {
			t.Fatal(err)
		}
		moved := 0.0
		for j := range x {
			moved = max(moved, math.Abs(float64(x[j]-orig[j])))
		}
		if moved < 1 {
			t.Errorf("%s: encoding moved no value by more than %g", name(s), moved)
		}
		if _, err := Flow(s, testMixture.score(s), x, n, 1, mixEps, tol); err != nil {
			t.Fatal(err)
		}
		worst := 0.0
		for j := range x {
			worst = max(worst, math.Abs(float64(x[j]-orig[j])))
		}
		if worst > 1e-3 {
			t.Errorf("%s: encode then decode is off by up to %g, want at most 1e-3", name(s), worst)
		}
	}
}

// gaussianData is data x0 ~ N(mu, sigma0^2 I). Under a linear SDE its
// marginals are N(Mean(t) mu, v(t) I) with v = Mean^2 sigma0^2 + Std^2, so
// its score and the probability-flow ODE's map are known in closed form.
type gaussianData struct {
	mu     []float64
	sigma0 float64
}

func (g gaussianData) v(s SDE, t float64) float64 {
	m, sd := s.Mean(t), s.Std(t)
	return m*m*g.sigma0*g.sigma0 + sd*sd
}

// logp is log N(x; Mean(t) mu, v(t) I) of one sample.
func (g gaussianData) logp(s SDE, t float64, x []float32) float64 {
	m, v := s.Mean(t), g.v(s, t)
	lp := -0.5 * float64(len(x)) * math.Log(2*math.Pi*v)
	for j, xj := range x {
		d := float64(xj) - m*g.mu[j]
		lp -= d * d / (2 * v)
	}
	return lp
}

// scoreDiv is the exact score -(x - Mean(t) mu) / v(t) and its quadratic
// form probe^T (ds/dx) probe = -||probe||^2 / v(t).
func (g gaussianData) scoreDiv(s SDE) ScoreDivFunc {
	d := len(g.mu)
	return func(x, t, probe, score []float32, quad []float64) error {
		for i := range t {
			tt := float64(t[i])
			m, v := s.Mean(tt), g.v(s, tt)
			var pp float64
			for j := range d {
				score[i*d+j] = float32(-(float64(x[i*d+j]) - m*g.mu[j]) / v)
				pp += float64(probe[i*d+j]) * float64(probe[i*d+j])
			}
			quad[i] = -pp / v
		}
		return nil
	}
}

// TestLikelihoodGaussian checks Likelihood against the closed form for
// Gaussian data: the latents are the ODE's affine map
// z = Mean(1) mu + sqrt(v(1) / v(eps)) (x - Mean(eps) mu), and the result
// is log p_eps(x) + PriorLogP(z) - log p_1(z) (the prior stands in for the
// true p_1). Rademacher probes make the trace exact here, so each sample
// matches; Gaussian probes match on average within four standard errors.
func TestLikelihoodGaussian(t *testing.T) {
	g := gaussianData{mu: []float64{0.5, -0.3, 0.8}, sigma0: 0.3}
	d, eps := len(g.mu), 1e-5
	for _, s := range testSDEs(t) {
		for _, probe := range []Probe{Rademacher, Gaussian} {
			const batch = 400
			x := make([]float32, batch*d)
			Normals(x, 7, StreamNoise, 0, 0)
			for j := range x {
				x[j] = float32(g.mu[j%d] + g.sigma0*float64(x[j]))
			}
			z := make([]float32, len(x))
			logp, nfe, err := Likelihood(s, g.scoreDiv(s), x, batch, eps, DefaultTolerances, probe, 3, 0, z)
			if err != nil {
				t.Fatal(err)
			}
			m0, m1 := s.Mean(eps), s.Mean(1)
			ratio := math.Sqrt(g.v(s, 1) / g.v(s, eps))
			var sum, sum2, worstZ, worst float64
			for i := range batch {
				xi, zi := x[i*d:(i+1)*d], z[i*d:(i+1)*d]
				for j := range d {
					want := m1*g.mu[j] + ratio*(float64(xi[j])-m0*g.mu[j])
					worstZ = max(worstZ, math.Abs(float64(zi[j])-want)/(1+math.Abs(want)))
				}
				want := g.logp(s, eps, xi) + s.PriorLogP(zi) - g.logp(s, 1, zi)
				e := logp[i] - want
				sum, sum2, worst = sum+e, sum2+e*e, max(worst, math.Abs(e))
			}
			what := name(s) + " " + probe.String()
			if worstZ > 1e-3 {
				t.Errorf("%s: latents off the closed form by up to %g (relative)", what, worstZ)
			}
			mean := sum / batch
			se := math.Sqrt((sum2/batch - mean*mean) / (batch - 1))
			switch probe {
			case Rademacher:
				if worst > 1e-3 {
					t.Errorf("%s: log-density off the closed form by up to %g nats", what, worst)
				}
			case Gaussian:
				if math.Abs(mean) > 4*se || se == 0 {
					t.Errorf("%s: log-density off the closed form by %g ± %g nats on average", what, mean, se)
				}
			}
			t.Logf("%s: %d evaluations, error %g ± %g, worst %g", what, nfe, mean, se, worst)
		}
	}
}

// TestProbes checks the probes' laws and keying: Rademacher ±1 and
// Gaussian with mean 0 and variance 1, and a sample's probe fixed by its
// index in the run.
func TestProbes(t *testing.T) {
	const n, dim = 4000, 10
	for _, p := range []Probe{Rademacher, Gaussian} {
		v := make([]float32, n*dim)
		if err := Probes(v, dim, p, 5, 0); err != nil {
			t.Fatal(err)
		}
		var s, s2 float64
		for _, x := range v {
			if p == Rademacher && x != 1 && x != -1 {
				t.Fatalf("Rademacher probe %v", x)
			}
			s, s2 = s+float64(x), s2+float64(x)*float64(x)
		}
		mean, variance := s/float64(len(v)), s2/float64(len(v))
		if math.Abs(mean) > 4/math.Sqrt(float64(len(v))) || math.Abs(variance-1) > 0.03 {
			t.Errorf("%v probes: mean %g, second moment %g", p, mean, variance)
		}
		tail := make([]float32, 3*dim)
		if err := Probes(tail, dim, p, 5, 7); err != nil {
			t.Fatal(err)
		}
		for j := range tail {
			if tail[j] != v[7*dim+j] {
				t.Fatalf("%v: the probe of sample 7 depends on the batch", p)
			}
		}
	}
	if err := Probes(make([]float32, 4), 2, Probe(9), 1, 0); err == nil {
		t.Error("unknown probe accepted")
	}
}

// TestDequantize checks that each pixel p spreads uniformly over its cell
// [p/128 - 1, (p+1)/128 - 1).
func TestDequantize(t *testing.T) {
	const n = 20000
	pixels := make([]byte, n)
	for j := range pixels {
		pixels[j] = byte(j % 256)
	}
	x := make([]float32, n)
	Dequantize(x, pixels, 9, 0)
	var u float64
	for j, p := range pixels {
		lo := float64(p)/128 - 1
		if float64(x[j]) < lo || float64(x[j]) > lo+1.0/128 {
			t.Fatalf("pixel %d dequantised to %v, outside its cell", p, x[j])
		}
		u += (float64(x[j]) - lo) * 128
	}
	if mean := u / n; math.Abs(mean-0.5) > 4*math.Sqrt(1.0/12/n) {
		t.Errorf("the dequantisation noise has mean %g, want 0.5", mean)
	}
	shifted := make([]float32, 5)
	Dequantize(shifted, pixels[100:105], 9, 100)
	for j := range shifted {
		if shifted[j] != x[100+j] {
			t.Fatal("an element's noise depends on where its slice starts")
		}
	}
}
