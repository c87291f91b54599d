package score

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/scoregen/scoregen/model"
)

// TestInterpolateEndsReconstruct: the first and last of a row decode the
// pair's own latents, so they return the pair (the ODE is invertible),
// and the middle differs from both. The weights are moved less from the
// builder's than elsewhere: a random network's flow can squeeze images
// together so hard on the way to the prior that no tolerance separates
// them on the way back, which a trained score's does not.
func TestInterpolateEndsReconstruct(t *testing.T) {
	defer func(p float64) { perturb = p }(perturb)
	perturb = 0.005
	f, w := smallFamily(t)
	o := model.SampleOptions{Device: "cpu", EMA: true, Sample: f.cfg.Sample}
	o.Sample.RTol, o.Sample.ATol = 1e-7, 1e-7
	const d, points = 28 * 28, 3
	rng := rand.New(rand.NewPCG(1, 2))
	a, b := make([]float32, d), make([]float32, d)
	for j := range a {
		a[j], b[j] = float32(math.Tanh(rng.NormFloat64())), float32(math.Tanh(rng.NormFloat64()))
	}
	y, err := f.Interpolate(w, a, b, 1, points, o)
	if err != nil {
		t.Fatal(err)
	}
	off := func(u, v []float32) float64 {
		worst := 0.0
		for j := range u {
			worst = max(worst, math.Abs(float64(u[j]-v[j])))
		}
		return worst
	}
	if e := off(y[:d], a); e > 1e-2 {
		t.Errorf("the first image of the row is off the first of the pair by up to %g", e)
	}
	if e := off(y[2*d:], b); e > 1e-2 {
		t.Errorf("the last image of the row is off the second of the pair by up to %g", e)
	}
	if off(y[d:2*d], a) < 0.1 || off(y[d:2*d], b) < 0.1 {
		t.Error("the middle of the row is one of the ends")
	}
	if _, err := f.Interpolate(w, a, b, 1, 1, o); err == nil {
		t.Error("one interpolation point accepted")
	}
}

// TestSlerp checks the spherical interpolation: the ends are the inputs,
// the norm stays that of equal-norm inputs, and the angle moves evenly.
func TestSlerp(t *testing.T) {
	z0, z1 := []float32{1, 0, 0}, []float32{0, 0, 1}
	for _, alpha := range []float64{0, 0.25, 0.5, 1} {
		got := make([]float32, 3)
		slerp(got, z0, z1, alpha)
		want := []float64{math.Cos(alpha * math.Pi / 2), 0, math.Sin(alpha * math.Pi / 2)}
		for j := range got {
			if math.Abs(float64(got[j])-want[j]) > 1e-6 {
				t.Errorf("slerp at %v = %v, want %v", alpha, got, want)
				break
			}
		}
	}
	got := make([]float32, 2)
	slerp(got, []float32{1, 1}, []float32{2, 2}, 0.5)
	if got[0] != 1.5 || got[1] != 1.5 {
		t.Errorf("parallel inputs: slerp = %v, want the straight line's (1.5, 1.5)", got)
	}
}
