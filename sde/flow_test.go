package sde

import (
	"math"
	"testing"
)

// gaussianVelocity is the exact marginal velocity of the linear path for
// data N(mu, sigma0^2 I): x_t ~ N((1 - t) mu, s_t^2 I) with s_t^2 = (1 -
// t)^2 sigma0^2 + t^2, so v(x, t) = -mu + (s_t'/s_t) (x - (1 - t) mu).
func gaussianVelocity(mu []float64, sigma0 float64) ScoreFunc {
	d := len(mu)
	return func(x, t, v []float32) error {
		for i := range t {
			tt := float64(t[i])
			s2 := (1-tt)*(1-tt)*sigma0*sigma0 + tt*tt
			ds2 := -(1-tt)*sigma0*sigma0 + tt // (s^2)'/2
			for j := range d {
				k := i*d + j
				v[k] = float32(-mu[j] + ds2/s2*(float64(x[k])-(1-tt)*mu[j]))
			}
		}
		return nil
	}
}

// TestFlowSampleGaussian samples a flow with the exact velocity of
// Gaussian data by each method and checks the samples' mean and standard
// deviation per dimension against the data's (within 4 standard errors,
// and 2% for the deviation).
func TestFlowSampleGaussian(t *testing.T) {
	mu, sigma0 := []float64{1.5, -0.5}, 0.3
	const n = 20000
	for _, c := range []struct {
		method string
		steps  int
	}{{"ode-euler", 200}, {"heun", 20}, {"ode", 0}} {
		x := make([]float32, 2*n)
		nfe, err := FlowSample(gaussianVelocity(mu, sigma0), x, n, c.method, c.steps, DefaultTolerances, 3, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int{"ode-euler": c.steps, "heun": 2 * c.steps}[c.method]
		if c.method != "ode" && nfe != want {
			t.Errorf("%s: %d evaluations, want %d", c.method, nfe, want)
		}
		for j := range mu {
			var s, s2 float64
			for k := range n {
				v := float64(x[2*k+j])
				s, s2 = s+v, s2+v*v
			}
			mean := s / n
			sd := math.Sqrt(s2/n - mean*mean)
			if math.Abs(mean-mu[j]) > 4*sigma0/math.Sqrt(n) || math.Abs(sd-sigma0) > 0.02*sigma0 {
				t.Errorf("%s, dim %d: mean %.4f sd %.4f, want %v and %v", c.method, j, mean, sd, mu[j], sigma0)
			}
		}
	}
	if _, err := FlowSample(gaussianVelocity(mu, sigma0), make([]float32, 4), 2, "em", 10, DefaultTolerances, 1, 0, nil); err == nil {
		t.Error("flow sampler em accepted")
	}
}

// TestFlowPerturb checks the flow-matching batch: Perturb's times and
// noise (the same draws), x_t = (1 - t) x0 + t x1 and the target x1 - x0.
func TestFlowPerturb(t *testing.T) {
	const batch, d = 5, 6
	x0 := make([]float32, batch*d)
	for j := range x0 {
		x0[j] = float32(math.Sin(float64(j)))
	}
	xt, target, tt := make([]float32, len(x0)), make([]float32, len(x0)), make([]float32, batch)
	FlowPerturb(x0, xt, target, tt, batch, 9, 4, 1e-5)
	ref, z, rt := make([]float32, len(x0)), make([]float32, len(x0)), make([]float32, batch)
	vp, _ := NewVP(0.1, 20, 1000)
	Perturb(vp, x0, ref, z, rt, batch, 9, 4, 1e-5)
	for i := range batch {
		if tt[i] != rt[i] {
			t.Fatalf("t[%d] = %v, Perturb's %v", i, tt[i], rt[i])
		}
		for j := i * d; j < (i+1)*d; j++ {
			ti := float64(tt[i])
			if want := (1-ti)*float64(x0[j]) + ti*float64(z[j]); math.Abs(float64(xt[j])-want) > 1e-6 {
				t.Fatalf("x_t[%d] = %v, want %v", j, xt[j], want)
			}
			if want := z[j] - x0[j]; target[j] != want {
				t.Fatalf("target[%d] = %v, want x1 - x0 = %v", j, target[j], want)
			}
		}
	}
}
