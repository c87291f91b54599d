package sde

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// The SDEs of the paper's experiments (score_sde's defaults).
func testSDEs(t *testing.T) []SDE {
	t.Helper()
	ve, err := NewVE(0.01, 50, 1000)
	if err != nil {
		t.Fatal(err)
	}
	vp, err := NewVP(0.1, 20, 1000)
	if err != nil {
		t.Fatal(err)
	}
	svp, err := NewSubVP(0.1, 20, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return []SDE{ve, vp, svp}
}

func name(s SDE) string {
	switch s.(type) {
	case *VE:
		return "VE"
	case *VP:
		return "VP"
	case *SubVP:
		return "subVP"
	case *ou:
		return "OU"
	}
	return "?"
}

func TestConstructorsReject(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, c := range []struct {
		what string
		err  error
		want []string // words the message must contain
	}{
		{"VE sigma_min > sigma_max", veErr(1, 0.5, 10), []string{"sigma_min", "sigma_max"}},
		{"VE sigma_min = sigma_max", veErr(1, 1, 10), []string{"sigma_min", "sigma_max"}},
		{"VE sigma_min = 0", veErr(0, 1, 10), []string{"sigma_min"}},
		{"VE sigma_min < 0", veErr(-0.1, 1, 10), []string{"sigma_min"}},
		{"VE sigma_min NaN", veErr(nan, 1, 10), []string{"sigma_min"}},
		{"VE sigma_max Inf", veErr(0.1, inf, 10), []string{"sigma_max"}},
		{"VE n = 0", veErr(0.1, 1, 0), []string{"n = 0"}},
		{"VP beta_min = 0", vpErr(0, 20, 10), []string{"beta_min"}},
		{"VP beta_max < 0", vpErr(0.1, -1, 10), []string{"beta_max"}},
		{"VP beta_min > beta_max", vpErr(2, 1, 10), []string{"beta_min", "beta_max"}},
		{"VP n < 0", vpErr(0.1, 20, -3), []string{"n = -3"}},
		{"subVP beta_min NaN", subErr(nan, 20, 10), []string{"beta_min"}},
		{"subVP beta_min > beta_max", subErr(21, 20, 10), []string{"beta_min", "beta_max"}},
		{"subVP n = 0", subErr(0.1, 20, 0), []string{"n = 0"}},
	} {
		if c.err == nil {
			t.Errorf("%s: no error", c.what)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(c.err.Error(), w) {
				t.Errorf("%s: error %q does not name %q", c.what, c.err, w)
			}
		}
	}
	if _, err := NewVP(1, 1, 1); err != nil {
		t.Errorf("NewVP(1, 1, 1) (a constant schedule): %v", err)
	}
}

func veErr(a, b float64, n int) error  { _, err := NewVE(a, b, n); return err }
func vpErr(a, b float64, n int) error  { _, err := NewVP(a, b, n); return err }
func subErr(a, b float64, n int) error { _, err := NewSubVP(a, b, n); return err }

// TestPriorLogP compares PriorLogP with the sum of one-dimensional Gaussian
// log-densities log N(x_j; 0, PriorStd^2).
func TestPriorLogP(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, s := range testSDEs(t) {
		sd := s.PriorStd()
		for _, d := range []int{1, 7, 3072} {
			x := make([]float32, d)
			want := 0.0
			for j := range x {
				x[j] = float32(sd * r.NormFloat64())
				v := float64(x[j]) / sd
				want += -0.5*v*v - math.Log(sd) - 0.5*math.Log(2*math.Pi)
			}
			if got := s.PriorLogP(x); math.Abs(got-want) > 1e-9*math.Abs(want) {
				t.Errorf("%s: PriorLogP of %d elements = %.12g, want %.12g", name(s), d, got, want)
			}
		}
	}
	// The priors themselves: N(0, sigma_max^2) for VE, N(0, 1) otherwise.
	ss := testSDEs(t)
	if ss[0].PriorStd() != 50 || ss[1].PriorStd() != 1 || ss[2].PriorStd() != 1 {
		t.Errorf("PriorStd = %v, %v, %v, want sigma_max, 1, 1", ss[0].PriorStd(), ss[1].PriorStd(), ss[2].PriorStd())
	}
}

// TestKernelODEs checks that Mean and Std solve the moment equations of the
// linear SDE, dm/dt = f m and d(s^2)/dt = 2 f s^2 + g^2 (the ODEs that
// appendix B solves for the kernels), by central differences: a wrong drift,
// diffusion, mean or std breaks one of them.
func TestKernelODEs(t *testing.T) {
	const h = 1e-5
	for _, s := range testSDEs(t) {
		for _, tt := range []float64{0.01, 0.1, 0.3, 0.5, 0.8, 0.99} {
			dm := (s.Mean(tt+h) - s.Mean(tt-h)) / (2 * h)
			if want := s.DriftCoef(tt) * s.Mean(tt); math.Abs(dm-want) > 1e-6*(1+math.Abs(want)) {
				t.Errorf("%s t=%g: dm/dt = %.9g, f m = %.9g", name(s), tt, dm, want)
			}
			v := func(u float64) float64 { return s.Std(u) * s.Std(u) }
			dv := (v(tt+h) - v(tt-h)) / (2 * h)
			g := s.Diffusion(tt)
			if want := 2*s.DriftCoef(tt)*v(tt) + g*g; math.Abs(dv-want) > 1e-6*(1+math.Abs(want)) {
				t.Errorf("%s t=%g: d(s^2)/dt = %.9g, 2 f s^2 + g^2 = %.9g", name(s), tt, dv, want)
			}
		}
	}
}

// TestScheduleEnds checks the schedules at their ends against the paper's
// parameters: VE runs from sigma_min to sigma_max, beta from beta_min to
// beta_max, and the sub-VP variance stays below the VP one.
func TestScheduleEnds(t *testing.T) {
	ss := testSDEs(t)
	ve, vp, svp := ss[0].(*VE), ss[1].(*VP), ss[2].(*SubVP)
	near := func(what string, got, want float64) {
		if math.Abs(got-want) > 1e-12*(1+math.Abs(want)) {
			t.Errorf("%s = %.15g, want %.15g", what, got, want)
		}
	}
	near("VE Std(0)", ve.Std(0), 0.01)
	near("VE Std(1)", ve.Std(1), 50)
	near("VE Mean(0.7)", ve.Mean(0.7), 1)
	near("VE DriftCoef(0.7)", ve.DriftCoef(0.7), 0)
	near("VP Diffusion(0)^2", vp.Diffusion(0)*vp.Diffusion(0), 0.1)
	near("VP Diffusion(1)^2", vp.Diffusion(1)*vp.Diffusion(1), 20)
	near("VP DriftCoef(1)", vp.DriftCoef(1), -10)
	near("VP Mean(0)", vp.Mean(0), 1)
	near("VP Std(0)", vp.Std(0), 0)
	near("subVP Mean(0)", svp.Mean(0), 1)
	near("subVP Std(0)", svp.Std(0), 0)
	near("subVP Diffusion(0)", svp.Diffusion(0), 0)
	for _, tt := range []float64{0.1, 0.5, 1} {
		// VP: m^2 + s^2 = 1 (variance preserving for unit-variance data).
		near("VP Mean^2+Std^2", vp.Mean(tt)*vp.Mean(tt)+vp.Std(tt)*vp.Std(tt), 1)
		// sub-VP: g^2 = beta (1 - m^4), since exp(-2 int beta) = m^4.
		m := svp.Mean(tt)
		near("subVP Diffusion^2", svp.Diffusion(tt)*svp.Diffusion(tt), svp.Beta(tt)*(1-m*m*m*m))
		if svp.Std(tt) > vp.Std(tt) {
			t.Errorf("t=%g: subVP std %g above VP std %g", tt, svp.Std(tt), vp.Std(tt))
		}
	}
}

// ou is the Ornstein–Uhlenbeck SDE dx = -beta x dt + sigma dW, whose kernel
// is N(e^{-beta t} x0, sigma^2 (1 - e^{-2 beta t}) / (2 beta)) and whose
// stationary law is N(0, sigma^2 / (2 beta)).
type ou struct{ beta, sigma float64 }

func (o *ou) DriftCoef(float64) float64     { return -o.beta }
func (o *ou) Diffusion(float64) float64     { return o.sigma }
func (o *ou) Mean(t float64) float64        { return math.Exp(-o.beta * t) }
func (o *ou) Std(t float64) float64         { return o.PriorStd() * math.Sqrt(-math.Expm1(-2*o.beta*t)) }
func (o *ou) PriorStd() float64             { return o.sigma / math.Sqrt(2*o.beta) }
func (o *ou) PriorLogP(x []float32) float64 { return gaussianLogP(x, o.PriorStd()) }
func (o *ou) N() int                        { return 1000 }

// Kernel: no kernel knows the OU SDE; a kind none has.
func (o *ou) Kernel() Kernel { return Kernel{Kind: -1} }

// simulate runs n paths of the forward SDE dx = f(t) x dt + g(t) dW by
// Euler–Maruyama with step dt from x(0) = x0 + Std(0) z (the kernel at t=0:
// VE data carries noise sigma_min) and returns the paths' values at the
// given times (multiples of dt, ascending).
func simulate(s SDE, x0 float64, n int, dt float64, times []float64, seed uint64) [][]float64 {
	out := make([][]float64, len(times))
	for k := range out {
		out[k] = make([]float64, n)
	}
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := w; p < n; p += workers {
				r := rand.New(rand.NewPCG(seed, uint64(p))) // per path: independent of the worker count
				x := x0 + s.Std(0)*r.NormFloat64()
				step := 0
				for k, tk := range times {
					for ; float64(step)*dt < tk-dt/2; step++ {
						tt := float64(step) * dt
						x += s.DriftCoef(tt)*x*dt + s.Diffusion(tt)*math.Sqrt(dt)*r.NormFloat64()
					}
					out[k][p] = x
				}
			}
		}()
	}
	wg.Wait()
	return out
}

func meanVar(v []float64) (float64, float64) {
	var m, q float64
	for _, x := range v {
		m += x
	}
	m /= float64(len(v))
	for _, x := range v {
		q += (x - m) * (x - m)
	}
	return m, q / float64(len(v)-1)
}

// checkGaussian tests that v has mean and variance (mean, sd^2) within five
// Monte-Carlo standard errors (sd/sqrt(n) and sd^2 sqrt(2/(n-1)) for a
// Gaussian) plus a relative allowance for the discretisation bias.
func checkGaussian(t *testing.T, what string, v []float64, mean, sd, bias float64) {
	t.Helper()
	n := float64(len(v))
	m, q := meanVar(v)
	if tol := 5 * sd / math.Sqrt(n); math.Abs(m-mean) > tol+bias*sd {
		t.Errorf("%s: mean %.5g, want %.5g ± %.2g", what, m, mean, tol+bias*sd)
	}
	if tol := 5 * sd * sd * math.Sqrt(2/(n-1)); math.Abs(q-sd*sd) > tol+bias*sd*sd {
		t.Errorf("%s: variance %.5g, want %.5g ± %.2g", what, q, sd*sd, tol+bias*sd*sd)
	}
}

// TestMarginalsMonteCarlo simulates each forward SDE and compares the
// marginal at several t with the kernel N(Mean(t) x0, Std(t)^2).
func TestMarginalsMonteCarlo(t *testing.T) {
	const n, dt, x0 = 20000, 1.0 / 2000, 1.5
	times := []float64{0.05, 0.2, 0.5, 1}
	for i, s := range append(testSDEs(t), SDE(&ou{beta: 1.5, sigma: 0.8})) {
		paths := simulate(s, x0, n, dt, times, uint64(100+i))
		for k, tt := range times {
			// Euler–Maruyama's bias is O(dt) relative: 1% covers it here.
			checkGaussian(t, fmt.Sprintf("%s at t=%g", name(s), tt), paths[k], s.Mean(tt)*x0, s.Std(tt), 0.01)
		}
	}
}

// TestOrnsteinUhlenbeckStationary runs dx = -beta x dt + sigma dW far past
// its relaxation time 1/beta and compares the result with the stationary
// law N(0, sigma^2/(2 beta)): mean, variance and the mass within one sd.
func TestOrnsteinUhlenbeckStationary(t *testing.T) {
	const n, dt = 20000, 1.0 / 1000
	o := &ou{beta: 2, sigma: 0.7}
	paths := simulate(o, 3, n, dt, []float64{6}, 7)[0] // e^{-12} of x0 is left
	sd := o.sigma / math.Sqrt(2*o.beta)
	checkGaussian(t, "OU at t=6", paths, 0, sd, 0.005) // EM's stationary variance is 1/(1 - beta dt/2) too large
	in := 0
	for _, x := range paths {
		if math.Abs(x) < sd {
			in++
		}
	}
	p := math.Erf(1 / math.Sqrt2)
	if frac := float64(in) / n; math.Abs(frac-p) > 5*math.Sqrt(p*(1-p)/n) {
		t.Errorf("OU: %.4f of the mass within one sd, want %.4f", frac, p)
	}
}

// Kernel's kinds are numbered as the kernels' enum numbers them, and each
// SDE names itself with its own parameters: DDPM with a copy of the table
// its Mean and Std read.
func TestKernelKindsMatchTheKernels(t *testing.T) {
	src, err := os.ReadFile("../kernels/common.cuh")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), "enum { SDE_VE, SDE_VP, SDE_SUBVP, SDE_FLOW, SDE_DDPM };") ||
		KindVE != 0 || KindVP != 1 || KindSubVP != 2 || KindFlow != 3 || KindDDPM != 4 {
		t.Fatal("kernels/common.cuh's SDE_* enum and sde's Kind* constants disagree")
	}
	ve, _ := NewVE(0.01, 50, 1000)
	vp, _ := NewVP(0.1, 20, 1000)
	sub, _ := NewSubVP(0.2, 10, 1000)
	ddpm, _ := NewDDPM(0.1, 5, 10)
	for _, c := range []struct {
		s    SDE
		want Kernel
	}{
		{ve, Kernel{Kind: KindVE, A: 0.01, B: 50}},
		{vp, Kernel{Kind: KindVP, A: 0.1, B: 20}},
		{sub, Kernel{Kind: KindSubVP, A: 0.2, B: 10}},
		{ddpm, Kernel{Kind: KindDDPM, LogAbar: ddpm.logAbar}},
	} {
		if got := c.s.Kernel(); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%T: Kernel() = %+v, want %+v", c.s, got, c.want)
		}
	}
	k := ddpm.Kernel()
	k.LogAbar[10] = 0
	if ddpm.Std(1) == 0 {
		t.Error("DDPM's Kernel().LogAbar is its own table, not a copy")
	}
}
