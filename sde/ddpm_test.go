package sde

import (
	"math"
	"testing"
)

// TestDDPMSchedule checks DDPM's betas (1e-4 to 0.02 from score_sde's VP
// parameters) and abar_k = prod (1 - beta_s), as Mean and Std at t = k/N.
func TestDDPMSchedule(t *testing.T) {
	s, err := NewDDPM(0.1, 20, 1000)
	if err != nil {
		t.Fatal(err)
	}
	abar := 1.0
	for k := 1; k <= 1000; k++ {
		beta := 1e-4 + float64(k-1)*(0.02-1e-4)/999
		abar *= 1 - beta
		tk := float64(k) / 1000
		if m := s.Mean(tk); math.Abs(m-math.Sqrt(abar)) > 1e-12 {
			t.Fatalf("Mean(%d/N) = %v, want sqrt(abar) = %v", k, m, math.Sqrt(abar))
		}
		if sd := s.Std(tk); math.Abs(sd-math.Sqrt(1-abar)) > 1e-12 {
			t.Fatalf("Std(%d/N) = %v, want %v", k, sd, math.Sqrt(1-abar))
		}
	}
	if s.Mean(0) != 1 || s.Std(0) != 0 {
		t.Errorf("k = 0: Mean %v, Std %v, want the data", s.Mean(0), s.Std(0))
	}
	if _, err := NewDDPM(0.1, 2000, 1000); err == nil {
		t.Error("beta_max/N of 2 accepted")
	}
}

// TestDDPMPerturb checks that training draws k uniformly on 1..N and
// noises with that k's abar.
func TestDDPMPerturb(t *testing.T) {
	const n, batch = 40, 8000
	s, err := NewDDPM(0.1, 20, n)
	if err != nil {
		t.Fatal(err)
	}
	x0, xt, z, tt := make([]float32, batch), make([]float32, batch), make([]float32, batch), make([]float32, batch)
	for i := range x0 {
		x0[i] = 0.5
	}
	Perturb(s, x0, xt, z, tt, batch, 3, 7, 1e-5)
	counts := make([]int, n+1)
	for i, ti := range tt {
		k := math.Round(float64(ti) * n)
		if math.Abs(float64(ti)*n-k) > 1e-5 || k < 1 || k > n {
			t.Fatalf("t = %v is not k/N with 1 <= k <= N", ti)
		}
		counts[int(k)]++
		want := s.Mean(float64(ti))*0.5 + s.Std(float64(ti))*float64(z[i])
		if math.Abs(float64(xt[i])-want) > 1e-6 {
			t.Fatalf("x_t = %v, want %v", xt[i], want)
		}
	}
	for k := 1; k <= n; k++ {
		if p := 1.0 / n; math.Abs(float64(counts[k])-batch*p) > 4*math.Sqrt(batch*p*(1-p)) {
			t.Errorf("k = %d drawn %d times of %d", k, counts[k], batch)
		}
	}
}

// TestAncestralIsDDPMAlgorithm2 runs Ancestral on DDPM with all N steps
// and a linear noise predictor, against Ho et al.'s Algorithm 2 written
// out (sigma_k^2 = beta_k) with the same noise: x_{k-1} = (x_k - beta_k /
// sqrt(1 - abar_k) eps_hat) / sqrt(alpha_k) + sqrt(beta_k) z, no noise at
// k = 1.
func TestAncestralIsDDPMAlgorithm2(t *testing.T) {
	const n, batch, d = 50, 3, 4
	s, _ := NewDDPM(0.1, 20, n)
	epsHat := func(x []float32, k int) []float64 { // a made-up predictor
		out := make([]float64, len(x))
		for j, v := range x {
			out[j] = 0.3*float64(v) + 0.01*float64(k)
		}
		return out
	}
	score := func(x, tt, out []float32) error {
		for i := range tt {
			k := int(math.Round(float64(tt[i]) * n))
			e := epsHat(x[i*d:(i+1)*d], k)
			for j := range d {
				out[i*d+j] = float32(-e[j] / s.Std(float64(tt[i])))
			}
		}
		return nil
	}
	x := make([]float32, batch*d)
	if err := Ancestral(s, score, x, batch, n, 1.0/n, 5, 0, nil); err != nil {
		t.Fatal(err)
	}
	want := make([]float64, batch*d)
	prior := make([]float32, batch*d)
	Normals(prior, 5, StreamPrior, 0, 0)
	for j, v := range prior {
		want[j] = float64(v)
	}
	z := make([]float32, batch*d)
	for i := range n {
		k := n - i
		beta := 0.1/n + float64(k-1)*(20.0/n-0.1/n)/float64(n-1)
		abar := s.Mean(float64(k)/n) * s.Mean(float64(k)/n)
		cur := make([]float32, len(want))
		for j, v := range want {
			cur[j] = float32(v)
		}
		Normals(z, 5, StreamPredictor, uint64(i), 0)
		for b := range batch {
			e := epsHat(cur[b*d:(b+1)*d], k)
			for j := range d {
				v := (want[b*d+j] - beta/math.Sqrt(1-abar)*e[j]) / math.Sqrt(1-beta)
				if k > 1 {
					v += math.Sqrt(beta) * float64(z[b*d+j])
				}
				want[b*d+j] = v
			}
		}
	}
	for j := range x {
		if math.Abs(float64(x[j])-want[j]) > 1e-4*(1+math.Abs(want[j])) {
			t.Fatalf("value %d: %v, Algorithm 2 gives %v", j, x[j], want[j])
		}
	}
}

// TestDDPMMixture: ancestral sampling and DDIM on DDPM with the mixture's
// exact score return the mixture.
func TestDDPMMixture(t *testing.T) {
	s, _ := NewDDPM(0.1, 20, 1000)
	x := make([]float32, 2*mixN)
	if err := Ancestral(s, testMixture.score(s), x, mixN, 1000, 1e-3, 90, 0, nil); err != nil {
		t.Fatal(err)
	}
	checkMixture(t, "DDPM ancestral", toPoints(x))
	if err := DDIM(s, testMixture.score(s), x, mixN, 200, 0, 1e-3, 91, 0, nil); err != nil {
		t.Fatal(err)
	}
	checkMixture(t, "DDPM DDIM", toPoints(x))
}
