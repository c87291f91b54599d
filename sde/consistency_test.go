package sde

import (
	"math"
	"slices"
	"testing"
)

// cifarCT is the paper's CIFAR-10 consistency-training setting (appendix
// C) over K = 1000 steps.
func cifarCT(t *testing.T) *Consistency {
	t.Helper()
	c, err := NewConsistency(Consistency{Eps: 0.002, T: 80, SigmaData: 0.5, Rho: 7, S0: 2, S1: 150, Mu0: 0.9, K: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestConsistencyScalings checks the boundary condition, cSkip(eps) = 1
// and cOut(eps) = 0, and the coefficients elsewhere against the formulas
// written out at t = 1.
func TestConsistencyScalings(t *testing.T) {
	c := cifarCT(t)
	if skip, out, _, _ := c.Scalings(c.Eps); skip != 1 || out != 0 {
		t.Errorf("at eps: cSkip %v, cOut %v; want 1 and 0", skip, out)
	}
	skip, out, in, noise := c.Scalings(1)
	want := []float64{0.25 / (0.998*0.998 + 0.25), 0.5 * 0.998 / math.Sqrt(1.25), 1 / math.Sqrt(1.25), 0}
	for i, v := range []float64{skip, out, in, noise} {
		if math.Abs(v-want[i]) > 1e-15 {
			t.Errorf("at t = 1: coefficient %d is %v, want %v", i, v, want[i])
		}
	}
	if _, _, _, noise := c.Scalings(80); math.Abs(1000*noise-250*math.Log(80)) > 1e-12 {
		t.Errorf("1000 cNoise(80) = %v, want the official code's 1000 * 0.25 * ln 80", 1000*noise)
	}
}

// TestConsistencySchedules checks N(k) (N(0) = s0, N(K) = s1 + 1,
// non-decreasing, and K past the end) and mu(k) against the formulas
// computed here in float64.
func TestConsistencySchedules(t *testing.T) {
	c := cifarCT(t)
	if n := c.Steps(0); n != 2 {
		t.Errorf("N(0) = %d, want s0 = 2", n)
	}
	if n := c.Steps(c.K); n != 151 {
		t.Errorf("N(K) = %d, want s1 + 1 = 151", n)
	}
	if n := c.Steps(5 * c.K); n != 151 {
		t.Errorf("N(5K) = %d, want N(K) = 151", n)
	}
	prev := 0
	for k := 0; k <= c.K; k++ {
		n := c.Steps(k)
		if n < prev {
			t.Fatalf("N(%d) = %d < N(%d) = %d", k, n, k-1, prev)
		}
		prev = n
		want := int(math.Ceil(math.Sqrt(float64(k)/1000*(151*151-4)+4)-1)) + 1
		if n != want {
			t.Fatalf("N(%d) = %d, want %d", k, n, want)
		}
		if mu, want := c.Mu(k), math.Pow(0.9, 2/float64(n)); math.Abs(mu-want) > 1e-15 {
			t.Fatalf("mu(%d) = %v, want 0.9^(2/N) = %v", k, mu, want)
		}
	}
	// Worked by hand: N(250) = ceil(sqrt(22797/4 + 4) - 1) + 1 =
	// ceil(74.52) + 1, N(500) = ceil(sqrt(22797/2 + 4) - 1) + 1 =
	// ceil(105.78) + 1.
	for k, want := range map[int]int{250: 76, 500: 107} {
		if n := c.Steps(k); n != want {
			t.Errorf("N(%d) = %d, want %d", k, n, want)
		}
	}
	if mu := c.Mu(0); math.Abs(mu-0.9) > 1e-15 {
		t.Errorf("mu(0) = %v, want mu0", mu)
	}
}

// TestConsistencyTimes checks the discretisation's ends and its rho
// spacing, and the sampler's default times.
func TestConsistencyTimes(t *testing.T) {
	c := cifarCT(t)
	for _, n := range []int{2, 3, 18, 151} {
		ts := c.Times(n)
		if len(ts) != n || ts[0] != c.Eps || ts[n-1] != c.T {
			t.Fatalf("Times(%d) = %v: want %d points from eps to T", n, ts, n)
		}
		for i := 1; i < n; i++ {
			gap := math.Pow(ts[i], 1/c.Rho) - math.Pow(ts[i-1], 1/c.Rho)
			want := (math.Pow(c.T, 1/c.Rho) - math.Pow(c.Eps, 1/c.Rho)) / float64(n-1)
			if math.Abs(gap-want) > 1e-12 {
				t.Fatalf("Times(%d): t^(1/rho) steps by %v at %d, want %v", n, gap, i, want)
			}
		}
	}
	for steps, want := range map[int][]float64{1: {80}, 2: {80, 0.5853481231945422}, 3: {80, c.Times(4)[2], c.Times(4)[1]}} {
		ts, err := c.SampleTimes(steps)
		if err != nil {
			t.Fatal(err)
		}
		if len(ts) != len(want) {
			t.Fatalf("SampleTimes(%d) = %v, want %v", steps, ts, want)
		}
		for i := range ts {
			if math.Abs(ts[i]-want[i]) > 1e-12*want[i] {
				t.Errorf("SampleTimes(%d) = %v, want %v", steps, ts, want)
			}
		}
	}
	if _, err := c.SampleTimes(0); err == nil {
		t.Error("SampleTimes(0) succeeded")
	}
}

// gaussianConsistency is the exact consistency function of data N(m, s^2 I)
// under the VE ODE: x_t = m + (x_eps - m) sqrt(s^2 + t^2) / sqrt(s^2 +
// eps^2) along a trajectory (the score of N(m, (s^2 + t^2) I) makes
// dx/dt = t (x - m) / (s^2 + t^2)), so f(x, t) = m + (x - m) a(t) with
// a(t) = sqrt(s^2 + eps^2) / sqrt(s^2 + t^2).
func gaussianConsistency(m, s, eps float64) (ScoreFunc, func(x, t float64) float64) {
	f := func(x, t float64) float64 { return m + (x-m)*math.Sqrt(s*s+eps*eps)/math.Sqrt(s*s+t*t) }
	return func(x, t, out []float32) error {
		d := len(x) / len(t)
		for i, ti := range t {
			for j := i * d; j < (i+1)*d; j++ {
				out[j] = float32(f(float64(x[j]), float64(ti)))
			}
		}
		return nil
	}, f
}

// TestConsistencySampleGaussian runs the multistep sampler in one and two
// steps with the exact consistency function of N(m, s^2 I) as the network:
// the samples have the data's mean and variance within sampling error (4
// standard errors). The prior N(0, T^2 I) stands in for the true N(m,
// (s^2 + T^2) I) (the paper's approximation), which biases the mean by
// m s / T, 0.0013 here, well inside the tolerance of 0.014; each sample
// drawn in a batch of one equals itself drawn in the batch.
func TestConsistencySampleGaussian(t *testing.T) {
	c := cifarCT(t)
	const m, s, batch, d = 0.2, 0.5, 4, 5000
	f, _ := gaussianConsistency(m, s, c.Eps)
	for _, steps := range []int{1, 2} {
		ts, err := c.SampleTimes(steps)
		if err != nil {
			t.Fatal(err)
		}
		x := make([]float32, batch*d)
		calls := 0
		if err := c.Sample(f, x, batch, ts, 7, 0, func(int) { calls++ }); err != nil {
			t.Fatal(err)
		}
		if calls != steps {
			t.Errorf("%d steps reported %d", steps, calls)
		}
		var sum, sum2 float64
		for _, v := range x {
			sum += float64(v)
		}
		mean := sum / float64(len(x))
		for _, v := range x {
			sum2 += (float64(v) - mean) * (float64(v) - mean)
		}
		variance := sum2 / float64(len(x)-1)
		n := float64(len(x))
		if se := s / math.Sqrt(n); math.Abs(mean-m) > 4*se {
			t.Errorf("%d steps: mean %.5f, want %v within %.5f", steps, mean, m, 4*se)
		}
		if se := s * s * math.Sqrt(2/(n-1)); math.Abs(variance-s*s) > 4*se {
			t.Errorf("%d steps: variance %.5f, want %v within %.5f", steps, variance, s*s, 4*se)
		}
		one := make([]float32, d)
		if err := c.Sample(f, one, 1, ts, 7, 2, nil); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(one, x[2*d:3*d]) {
			t.Errorf("%d steps: sample 2 drawn alone differs from sample 2 of the batch", steps)
		}
	}
	for _, ts := range [][]float64{nil, {81}, {1, 2}, {0.001}} {
		if err := c.Sample(f, make([]float32, d), 1, ts, 7, 0, nil); err == nil {
			t.Errorf("sampling at times %v succeeded", ts)
		}
	}
}

// TestConsistencyPair checks the training pair: the index n_i is uniform
// on 1..N-1 (each adjacent pair of times is drawn), the two points share
// their noise (hi - x0 and lo - x0 are t_{n+1} z and t_n z), and with the
// exact consistency function of Gaussian data in both roles the loss,
// the batch mean of ||f(hi, t_{n+1}) - f(lo, t_n)||^2, is the
// discretisation's error alone: it falls as 1/N^2 (by 4 when N doubles,
// within 25%) to nearly 0. The data are drawn from N(m, s^2).
func TestConsistencyPair(t *testing.T) {
	c := cifarCT(t)
	const m, s, batch, d = 0.1, 0.5, 512, 64
	_, f := gaussianConsistency(m, s, c.Eps)
	x0 := make([]float32, batch*d)
	Normals(x0, 11, StreamPrior, 0, 0)
	for j := range x0 {
		x0[j] = float32(m + s*float64(x0[j]))
	}
	hi, lo := make([]float32, len(x0)), make([]float32, len(x0))
	tHi, tLo := make([]float64, batch), make([]float64, batch)
	var losses []float64
	for _, n := range []int{20, 40, 80, 160} {
		ts := c.Times(n)
		var loss float64
		for step := range uint64(4) {
			c.Pair(x0, hi, lo, tHi, tLo, n, 5, step)
			seen := map[int]bool{}
			for i := range batch {
				k := slices.Index(ts, tLo[i])
				if k < 0 || k == n-1 || ts[k+1] != tHi[i] {
					t.Fatalf("N = %d: sample %d's times %v and %v are not adjacent points", n, i, tLo[i], tHi[i])
				}
				seen[k] = true
				for j := i * d; j < (i+1)*d; j++ {
					zh, zl := (float64(hi[j])-float64(x0[j]))/tHi[i], (float64(lo[j])-float64(x0[j]))/tLo[i]
					if math.Abs(zh-zl) > 1e-6*(1+math.Abs(float64(x0[j]))/tLo[i]) {
						t.Fatalf("N = %d: element %d's noise %v at t_{n+1} and %v at t_n", n, j, zh, zl)
					}
					e := f(float64(hi[j]), tHi[i]) - f(float64(lo[j]), tLo[i])
					loss += e * e / batch / 4
				}
			}
			if n == 20 && len(seen) != n-1 {
				t.Errorf("N = 20: %d of the 19 pairs drawn in a batch of %d", len(seen), batch)
			}
		}
		losses = append(losses, loss)
	}
	t.Logf("losses at N = 20, 40, 80, 160: %v", losses)
	for i := 1; i < len(losses); i++ {
		if r := losses[i-1] / losses[i]; r < 3 || r > 5 {
			t.Errorf("losses %v: N doubling divides the loss by %.2f, want about 4", losses, r)
		}
	}
	if last := losses[len(losses)-1]; last > 1e-3*float64(d)*s*s {
		t.Errorf("loss %v at N = 160, want near 0", last)
	}
}

// TestNewConsistencyRefuses checks each field's bound.
func TestNewConsistencyRefuses(t *testing.T) {
	ok := Consistency{Eps: 0.002, T: 80, SigmaData: 0.5, Rho: 7, S0: 2, S1: 150, Mu0: 0.9, K: 10}
	for _, change := range []func(*Consistency){
		func(c *Consistency) { c.Eps = 0 },
		func(c *Consistency) { c.T = 0.001 },
		func(c *Consistency) { c.SigmaData = 0 },
		func(c *Consistency) { c.Rho = math.Inf(1) },
		func(c *Consistency) { c.S0 = 1 },
		func(c *Consistency) { c.S1 = 1 },
		func(c *Consistency) { c.Mu0 = 1 },
		func(c *Consistency) { c.K = 0 },
		func(c *Consistency) { c.Improved, c.PStd = true, 0 },
		func(c *Consistency) { c.Improved, c.PStd, c.PMean = true, 2, math.NaN() },
		func(c *Consistency) { c.Improved, c.PStd, c.PMean = true, 0.5, -40 }, // all mass below eps
	} {
		c := ok
		change(&c)
		if _, err := NewConsistency(c); err == nil {
			t.Errorf("%+v was accepted", c)
		}
	}
}

// TestNewConsistencyImprovedIgnoresMu0 checks that improved training,
// which has no EMA target, does not read mu0.
func TestNewConsistencyImprovedIgnoresMu0(t *testing.T) {
	c := Consistency{Eps: 0.002, T: 80, SigmaData: 0.5, Rho: 7, S0: 10, S1: 1280, Mu0: 0, K: 10, Improved: true, PMean: -1.1, PStd: 2}
	if _, err := NewConsistency(c); err != nil {
		t.Errorf("improved with mu0 = 0: %v", err)
	}
}

// improvedCT is improved consistency training's setting (Song and Dhariwal
// 2023, CIFAR-10: s0 = 10, s1 = 1280, P_mean = -1.1, P_std = 2) over K
// steps.
func improvedCT(t *testing.T, s1, k int) *Consistency {
	t.Helper()
	c, err := NewConsistency(Consistency{Eps: 0.002, T: 80, SigmaData: 0.5, Rho: 7, S0: 10, S1: s1, Mu0: 0.9, K: k,
		Improved: true, PMean: -1.1, PStd: 2})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestImprovedConsistencySchedules checks the exponential curriculum
// against values worked by hand, and mu = 0. K = 1000, s1/s0 = 128: K' =
// floor(1000/8) = 125 and N = 11, 21, ..., 1281 in stages of 125 steps;
// s1 = 150: K' = floor(1000 / (log2(15) + 1)) = floor(203.8) = 203, and
// the fifth stage's 160 is cut to 150.
func TestImprovedConsistencySchedules(t *testing.T) {
	for _, tc := range []struct {
		s1, kPrime int
		want       map[int]int
	}{
		{1280, 125, map[int]int{-5: 11, 0: 11, 124: 11, 125: 21, 250: 41, 874: 641, 875: 1281, 1000: 1281, 1 << 40: 1281}},
		{150, 203, map[int]int{0: 11, 202: 11, 203: 21, 609: 81, 811: 81, 812: 151, 5000: 151}},
	} {
		c := improvedCT(t, tc.s1, 1000)
		if kp := c.KPrime(); kp != tc.kPrime {
			t.Errorf("s1 = %d: K' = %d, want %d", tc.s1, kp, tc.kPrime)
		}
		for k, want := range tc.want {
			if n := c.Steps(k); n != want {
				t.Errorf("s1 = %d: N(%d) = %d, want %d", tc.s1, k, n, want)
			}
			if mu := c.Mu(k); mu != 0 {
				t.Errorf("mu(%d) = %v, want 0 (no EMA target)", k, mu)
			}
		}
	}
	if kp := improvedCT(t, 1280, 3).KPrime(); kp != 1 {
		t.Errorf("K = 3: K' = %d, want at least 1", kp)
	}
}

// TestImprovedConsistencyIndex checks the lognormal index: IndexCDF
// against the erf formula computed here, indexOf at the edges, and the
// indices Pair draws (for 8192 samples on 11 points) against the
// probabilities within 4 standard errors, with the loss weights 1/(t_{i+1}
// - t_i).
func TestImprovedConsistencyIndex(t *testing.T) {
	c := improvedCT(t, 1280, 1000)
	const n = 11
	ts := c.Times(n)
	p := make([]float64, n-1)
	var sum float64
	for i := range p {
		p[i] = math.Erf((math.Log(ts[i+1])+1.1)/(2*math.Sqrt2)) - math.Erf((math.Log(ts[i])+1.1)/(2*math.Sqrt2))
		sum += p[i]
	}
	cdf := c.IndexCDF(n)
	var acc float64
	for i := range p {
		p[i] /= sum
		acc += p[i]
		if math.Abs(cdf[i]-acc) > 1e-12 {
			t.Fatalf("IndexCDF(%d)[%d] = %v, want %v", n, i, cdf[i], acc)
		}
	}
	if cdf[n-2] != 1 {
		t.Errorf("IndexCDF's last is %v, want 1", cdf[n-2])
	}
	if i := indexOf(cdf, 0); i != 1 {
		t.Errorf("indexOf(0) = %d, want 1", i)
	}
	if i := indexOf(cdf, math.Nextafter(1, 0)); i != n-1 {
		t.Errorf("indexOf(1-) = %d, want %d", i, n-1)
	}
	if i := indexOf(cdf, cdf[3]); i != 5 {
		t.Errorf("indexOf(cdf[3]) = %d, want 5 (the first with cdf > u)", i)
	}
	const batch = 8192
	x0 := make([]float32, batch)
	hi, lo := make([]float32, batch), make([]float32, batch)
	tHi, tLo := make([]float64, batch), make([]float64, batch)
	c.Pair(x0, hi, lo, tHi, tLo, n, 3, 7)
	count := make([]float64, n-1)
	for i := range batch {
		k := slices.Index(ts, tLo[i])
		if k < 0 || ts[k+1] != tHi[i] {
			t.Fatalf("sample %d's times %v and %v are not adjacent points", i, tLo[i], tHi[i])
		}
		count[k]++
		if w, want := c.PairWeight(tHi[i], tLo[i]), 1/(ts[k+1]-ts[k]); w != want {
			t.Fatalf("PairWeight(%v, %v) = %v, want %v", tHi[i], tLo[i], w, want)
		}
	}
	for i, pi := range p {
		if se := math.Sqrt(batch * pi * (1 - pi)); math.Abs(count[i]-batch*pi) > 4*se+1 {
			t.Errorf("index %d drawn %v times of %d, want %.1f ± %.1f", i+1, count[i], batch, batch*pi, se)
		}
	}
	t.Logf("index probabilities %.4f, drawn %v", p, count)
	if w := cifarCT(t).PairWeight(3, 1); w != 1 {
		t.Errorf("consistency training's weight is %v, want 1", w)
	}
}
