package sde

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"sync"
	"testing"
)

// mixture is a 2-D Gaussian mixture with well separated modes (more than 8
// standard deviations apart), so that each sample's mode is unambiguous.
type mixture struct {
	w   []float64
	mu  [][2]float64
	cov [][3]float64 // (xx, xy, yy)
}

var testMixture = mixture{
	w:   []float64{0.5, 0.3, 0.2},
	mu:  [][2]float64{{-3, -1}, {3, -1}, {0, 3.5}},
	cov: [][3]float64{{0.4, 0.15, 0.2}, {0.2, -0.1, 0.3}, {0.25, 0, 0.25}},
}

// sampleCounts draws counts[k] points from component k, in order.
func (m mixture) sampleCounts(counts []int, r *rand.Rand) [][2]float64 {
	var out [][2]float64
	for k, n := range counts {
		c := m.cov[k] // Cholesky of [[a, b], [b, d]]
		l11 := math.Sqrt(c[0])
		l21 := c[1] / l11
		l22 := math.Sqrt(c[2] - l21*l21)
		for range n {
			z1, z2 := r.NormFloat64(), r.NormFloat64()
			out = append(out, [2]float64{m.mu[k][0] + l11*z1, m.mu[k][1] + l21*z1 + l22*z2})
		}
	}
	return out
}

// logComponents writes log(w_k N(x; a mu_k, a^2 Sigma_k + v I)) to lp and
// the components' precision times (x - a mu_k) to grad (so the component
// score is -grad[k]).
func (m mixture) logComponents(x [2]float64, a, v float64, lp []float64, grad [][2]float64) {
	for k := range m.w {
		c := m.cov[k]
		sxx, sxy, syy := a*a*c[0]+v, a*a*c[1], a*a*c[2]+v
		det := sxx*syy - sxy*sxy
		dx, dy := x[0]-a*m.mu[k][0], x[1]-a*m.mu[k][1]
		px, py := (syy*dx-sxy*dy)/det, (sxx*dy-sxy*dx)/det
		grad[k] = [2]float64{px, py}
		lp[k] = math.Log(m.w[k]) - 0.5*(dx*px+dy*py) - 0.5*math.Log(det) - math.Log(2*math.Pi)
	}
}

// score is the exact score of the perturbed mixture p_t = sum_k w_k
// N(Mean(t) mu_k, Mean(t)^2 Sigma_k + Std(t)^2 I) (the data convolved with
// the kernel of appendix B), computed in float64: the responsibility-
// weighted sum of the components' scores.
func (m mixture) score(s SDE) ScoreFunc {
	return func(x, t, out []float32) error {
		b := len(t)
		forSamples(b, func(lo, hi int) {
			lp := make([]float64, len(m.w))
			grad := make([][2]float64, len(m.w))
			for i := lo; i < hi; i++ {
				tt := float64(t[i])
				a, sd := s.Mean(tt), s.Std(tt)
				m.logComponents([2]float64{float64(x[2*i]), float64(x[2*i+1])}, a, sd*sd, lp, grad)
				top := slices.Max(lp)
				var z, gx, gy float64
				for k := range lp {
					r := math.Exp(lp[k] - top)
					z += r
					gx -= r * grad[k][0]
					gy -= r * grad[k][1]
				}
				out[2*i], out[2*i+1] = float32(gx/z), float32(gy/z)
			}
		})
		return nil
	}
}

// forSamples splits [0, n) across the cores.
func forSamples(n int, body func(lo, hi int)) {
	k := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body(w*n/k, (w+1)*n/k)
		}()
	}
	wg.Wait()
}

// modeOf is the component with the largest w_k N(x; mu_k, Sigma_k).
func (m mixture) modeOf(x [2]float64) int {
	lp := make([]float64, len(m.w))
	grad := make([][2]float64, len(m.w))
	m.logComponents(x, 1, 0, lp, grad)
	k := 0
	for j := range lp {
		if lp[j] > lp[k] {
			k = j
		}
	}
	return k
}

// slicedW1 is the sliced 1-Wasserstein distance between two equal-sized
// point sets, averaged over `dirs` evenly spaced directions: each
// projection's W1 is the mean gap between the sorted projections.
func slicedW1(a, b [][2]float64, dirs int) float64 {
	pa, pb := make([]float64, len(a)), make([]float64, len(b))
	var total float64
	for l := range dirs {
		s, c := math.Sincos(math.Pi * float64(l) / float64(dirs))
		for i := range a {
			pa[i] = c*a[i][0] + s*a[i][1]
			pb[i] = c*b[i][0] + s*b[i][1]
		}
		sort.Float64s(pa)
		sort.Float64s(pb)
		var w float64
		for i := range pa {
			w += math.Abs(pa[i] - pb[i])
		}
		total += w / float64(len(pa))
	}
	return total / float64(dirs)
}

func toPoints(x []float32) [][2]float64 {
	p := make([][2]float64, len(x)/2)
	for i := range p {
		p[i] = [2]float64{float64(x[2*i]), float64(x[2*i+1])}
	}
	return p
}

// checkMixture tests that the points are the mixture's: the fraction in each
// mode within 0.02 of its weight, and then the shape within the modes: the
// sliced Wasserstein distance to fresh mixture samples with the same counts
// per mode, against the noise floor, the same distance between such fresh
// sets. Fixing the counts keeps the modes' multinomial noise, which the
// weight test covers, out of the distance.
func checkMixture(t *testing.T, what string, got [][2]float64) {
	t.Helper()
	m := testMixture
	n := len(got)
	counts := make([]int, len(m.w))
	for _, p := range got {
		if math.IsNaN(p[0]) || math.IsNaN(p[1]) {
			t.Fatalf("%s: NaN sample", what)
		}
		counts[m.modeOf(p)]++
	}
	for k, c := range counts {
		if f := float64(c) / float64(n); math.Abs(f-m.w[k]) > 0.02 {
			t.Errorf("%s: mode %d holds %.4f of the samples, want %.2f ± 0.02", what, k, f, m.w[k])
		}
	}
	r := rand.New(rand.NewPCG(11, 12))
	ref := m.sampleCounts(counts, r)
	var floor float64
	const pairs = 4
	for range pairs {
		floor += slicedW1(m.sampleCounts(counts, r), ref, 32) / pairs
	}
	d := slicedW1(got, ref, 32)
	t.Logf("%s: mode counts %v; sliced W1 to the mixture %.4f, between fresh sets %.4f (ratio %.2f)", what, counts, d, floor, d/floor)
	if d > 2*floor {
		t.Errorf("%s: sliced W1 to the mixture %.4f, more than twice the noise floor %.4f", what, d, floor)
	}
}

const (
	mixN     = 20000 // samples
	mixSteps = 1000
	mixEps   = 1e-3
)

// mixtureSDEs are the SDEs the samplers are tested with; VE's sigma_max is
// about the largest distance between modes, the paper's rule (Technique 1
// of Song and Ermon 2020).
func mixtureSDEs(t *testing.T) []SDE {
	ve, err := NewVE(0.01, 10, mixSteps)
	if err != nil {
		t.Fatal(err)
	}
	ss := testSDEs(t)
	return []SDE{ve, ss[1], ss[2]}
}

// TestEulerMaruyamaMixture runs the reverse-time SDE with the exact score of
// a Gaussian mixture from each SDE's prior and checks that it returns the
// mixture.
func TestEulerMaruyamaMixture(t *testing.T) {
	for i, s := range mixtureSDEs(t) {
		x := make([]float32, 2*mixN)
		calls := 0
		if err := EulerMaruyama(s, testMixture.score(s), x, mixN, mixSteps, mixEps, uint64(i+1), 0, func(int) { calls++ }); err != nil {
			t.Fatal(err)
		}
		if calls != mixSteps {
			t.Errorf("%s: progress called %d times, want %d", name(s), calls, mixSteps)
		}
		checkMixture(t, "EM "+name(s), toPoints(x))
	}
}

// TestPredictorCorrectorMixture does the same with one Langevin corrector
// step per predictor step (snr 0.16, the paper's CIFAR-10 VE setting) and
// half the steps.
func TestPredictorCorrectorMixture(t *testing.T) {
	for i, s := range mixtureSDEs(t)[:2] {
		x := make([]float32, 2*mixN)
		if err := PredictorCorrector(s, testMixture.score(s), x, mixN, mixSteps/2, 1, 0.16, mixEps, uint64(i+10), 0, nil); err != nil {
			t.Fatal(err)
		}
		checkMixture(t, "PC "+name(s), toPoints(x))
	}
}

// recorder is a score function that records what it was called with and
// returns score(x, t) = -c x.
type recorder struct {
	c  float64
	xs [][]float32
	ts [][]float32
}

func (r *recorder) score(x, t, out []float32) error {
	r.xs = append(r.xs, slices.Clone(x))
	r.ts = append(r.ts, slices.Clone(t))
	for j := range x {
		out[j] = float32(-r.c * float64(x[j]))
	}
	return nil
}

// TestEulerMaruyamaSteps checks the sampler's structure step by step with a
// linear score: x(1) = PriorStd times draw 0 of StreamPrior; the score sees
// the times linspace(1, eps, steps); each step is
// x + [f x - g^2 s] dt + g sqrt(-dt) z with dt = -1/steps and z draw i of
// StreamPredictor; the last step adds no noise. The batch is samples 11 to
// 15 of a run, so its noise is elements 11*d, ... of each draw.
func TestEulerMaruyamaSteps(t *testing.T) {
	const b, d, steps, eps, seed, first = 5, 3, 4, 0.01, 99, 11
	for _, s := range testSDEs(t) {
		rec := &recorder{c: 0.3}
		x := make([]float32, b*d)
		if err := EulerMaruyama(s, rec.score, x, b, steps, eps, seed, first, nil); err != nil {
			t.Fatal(err)
		}
		if len(rec.xs) != steps {
			t.Fatalf("%s: %d score calls, want %d", name(s), len(rec.xs), steps)
		}
		prior := make([]float32, b*d)
		Normals(prior, seed, StreamPrior, 0, first*d)
		for j := range prior {
			if want := s.PriorStd() * float64(prior[j]); !close32(rec.xs[0][j], want) {
				t.Fatalf("%s: x(1)[%d] = %v, want %v", name(s), j, rec.xs[0][j], want)
			}
		}
		dt := -1.0 / steps
		for i := range steps {
			tt := 1 + float64(i)*(eps-1)/(steps-1)
			for _, v := range rec.ts[i] {
				if v != float32(tt) {
					t.Fatalf("%s: step %d scored at t = %v, want %v", name(s), i, v, float32(tt))
				}
			}
			next := x
			if i+1 < steps {
				next = rec.xs[i+1]
			}
			z := make([]float32, b*d)
			Normals(z, seed, StreamPredictor, uint64(i), first*d)
			f, g := s.DriftCoef(tt), s.Diffusion(tt)
			for j, xj := range rec.xs[i] {
				want := float64(xj) + (f*float64(xj)-g*g*(-rec.c*float64(xj)))*dt
				if i+1 < steps {
					want += g * math.Sqrt(-dt) * float64(z[j])
				}
				if !close32(next[j], want) {
					t.Fatalf("%s: step %d element %d = %v, want %v", name(s), i, j, next[j], want)
				}
			}
		}
	}
}

func close32(got float32, want float64) bool {
	return math.Abs(float64(got)-want) <= 2e-6*(1+math.Abs(want))
}

// TestLangevinCorrectorStep checks one corrector step against score_sde's
// rule, written out independently: eps = 2 alpha (snr mean||z_i|| /
// mean||s_i||)^2, x += eps s + sqrt(2 eps) z, with alpha = 1 -
// linspace(beta_min/N, beta_max/N, N)[floor(t (N-1))] for VP-type SDEs.
func TestLangevinCorrectorStep(t *testing.T) {
	const b, d, snr, seed, draw = 6, 5, 0.16, 3, 17
	for _, s := range testSDEs(t) {
		for _, tt := range []float64{0.0, 0.37, 1} {
			x := make([]float32, b*d)
			for j := range x {
				x[j] = float32(math.Cos(float64(3 * j)))
			}
			x0 := slices.Clone(x)
			rec := &recorder{c: float64(1 + j2(x0))}
			if err := LangevinCorrector(s, rec.score, x, b, tt, snr, seed, draw); err != nil {
				t.Fatal(err)
			}
			z := make([]float32, b*d)
			Normals(z, seed, StreamCorrector, draw, 0)
			var gn, zn float64
			for i := range b {
				var gg, zz float64
				for j := i * d; j < (i+1)*d; j++ {
					gg += math.Pow(rec.c*float64(x0[j]), 2)
					zz += float64(z[j]) * float64(z[j])
				}
				gn += math.Sqrt(gg) / b
				zn += math.Sqrt(zz) / b
			}
			alpha := 1.0
			if _, ve := s.(*VE); !ve {
				n := s.N()
				betas := make([]float64, n) // torch.linspace(beta_min/N, beta_max/N, N)
				for k := range betas {
					betas[k] = 0.1/float64(n) + float64(k)*(20.0/float64(n)-0.1/float64(n))/float64(n-1)
				}
				alpha = 1 - betas[int(tt*float64(n-1))]
			}
			eps := math.Pow(snr*zn/gn, 2) * 2 * alpha
			for j := range x {
				want := float64(x0[j]) + eps*(-rec.c*float64(x0[j])) + math.Sqrt(2*eps)*float64(z[j])
				if !close32(x[j], want) {
					t.Fatalf("%s t=%g: x[%d] = %v, want %v", name(s), tt, j, x[j], want)
				}
			}
		}
	}
}

// j2 is a small positive number derived from x, so that the score scale
// is not a round number.
func j2(x []float32) float32 { return x[1] * x[1] }

// TestLangevinGaussian runs unadjusted Langevin dynamics with the score of
// N(0, 1), s(x) = -x, from far away and checks that it reaches N(0, 1).
func TestLangevinGaussian(t *testing.T) {
	const b, d, steps, step = 20000, 2, 1000, 0.01
	x := make([]float32, b*d)
	for j := range x {
		x[j] = 4
	}
	score := func(x, t, out []float32) error {
		for _, v := range t {
			if v != 0 {
				return fmt.Errorf("t = %v, want 0", v)
			}
		}
		for j := range x {
			out[j] = -x[j]
		}
		return nil
	}
	if err := Langevin(score, x, b, steps, step, 5); err != nil {
		t.Fatal(err)
	}
	v := make([]float64, len(x))
	for j := range x {
		v[j] = float64(x[j])
	}
	// (1-step)^steps = e^{-10} of the start is left; the chain's own
	// stationary variance is 1/(1 - step/2), step/2 above 1.
	checkGaussian(t, "Langevin", v, 0, 1, step)
}

// Euler-Maruyama on batches of 7 samples (the last one short) with their
// index in the run gives bit for bit the samples of one batch of all of
// them: the noise is keyed by the sample, not the batch.
func TestBatchesEqualOneRun(t *testing.T) {
	s := testSDEs(t)[1]
	const n, steps, seed = 30, 20, 4
	score := testMixture.score(s)
	want := make([]float32, 2*n)
	if err := EulerMaruyama(s, score, want, n, steps, 1e-3, seed, 0, nil); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, 2*n)
	for lo := 0; lo < n; lo += 7 {
		hi := min(lo+7, n)
		if err := EulerMaruyama(s, score, got[2*lo:2*hi], hi-lo, steps, 1e-3, seed, lo, nil); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("batches of 7 differ from one batch:\n%v\n%v", got, want)
	}
}

func TestSamplersDeterministic(t *testing.T) {
	s := testSDEs(t)[0]
	run := func(seed uint64) []float32 {
		x := make([]float32, 2*300)
		if err := PredictorCorrector(s, testMixture.score(s), x, 300, 20, 2, 0.16, 1e-3, seed, 0, nil); err != nil {
			t.Fatal(err)
		}
		return x
	}
	a, b, c := run(1), run(1), run(2)
	if !slices.Equal(a, b) {
		t.Error("same seed, different samples")
	}
	if slices.Equal(a, c) {
		t.Error("different seeds, same samples")
	}
}

func TestSamplersReject(t *testing.T) {
	s := testSDEs(t)[1]
	zero := func(x, t, out []float32) error { clear(out); return nil }
	x := make([]float32, 12)
	for _, c := range []struct {
		what string
		err  error
	}{
		{"nil SDE", EulerMaruyama(nil, zero, x, 3, 10, 1e-3, 0, 0, nil)},
		{"nil score", EulerMaruyama(s, nil, x, 3, 10, 1e-3, 0, 0, nil)},
		{"batch not dividing x", EulerMaruyama(s, zero, x, 5, 10, 1e-3, 0, 0, nil)},
		{"batch 0", EulerMaruyama(s, zero, x, 0, 10, 1e-3, 0, 0, nil)},
		{"steps 0", EulerMaruyama(s, zero, x, 3, 0, 1e-3, 0, 0, nil)},
		{"eps 0", EulerMaruyama(s, zero, x, 3, 10, 0, 0, 0, nil)},
		{"eps 1", EulerMaruyama(s, zero, x, 3, 10, 1, 0, 0, nil)},
		{"snr 0", PredictorCorrector(s, zero, x, 3, 10, 1, 0, 1e-3, 0, 0, nil)},
		{"negative corrector steps", PredictorCorrector(s, zero, x, 3, 10, -1, 0.1, 1e-3, 0, 0, nil)},
		{"zero score in corrector", LangevinCorrector(s, zero, x, 3, 0.5, 0.1, 0, 0)},
		{"t above 1", LangevinCorrector(s, zero, x, 3, 1.5, 0.1, 0, 0)},
		{"Langevin step 0", Langevin(zero, x, 3, 10, 0, 0)},
		{"negative first", EulerMaruyama(s, zero, x, 3, 10, 1e-3, 0, -1, nil)},
		{"noise past its period", EulerMaruyama(s, zero, x, 3, 10, 1e-3, 0, MaxElements/4-2, nil)},
	} {
		if c.err == nil {
			t.Errorf("%s: no error", c.what)
		}
	}
	boom := errors.New("boom")
	failing := func(x, t, out []float32) error { return boom }
	if err := EulerMaruyama(s, failing, x, 3, 10, 1e-3, 0, 0, nil); !errors.Is(err, boom) {
		t.Errorf("score error not passed on: %v", err)
	}
}
