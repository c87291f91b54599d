package optim

import (
	"math"
	"testing"

	"github.com/scoregen/scoregen/configs"
)

// Adam against torch.optim.Adam's update written out in float64.
func TestAdamMatchesTorchFormula(t *testing.T) {
	p := [][]float32{{0.5, -1, 2}, {3}}
	g := [][]float32{{0, 0, 0}, {0}}
	a := NewAdam(p, g, 0.9, 0.999, 1e-8)
	ref := []float64{0.5, -1, 2, 3}
	m, v := make([]float64, 4), make([]float64, 4)
	for step := 1; step <= 5; step++ {
		flat := []float64{}
		for i, pi := range p {
			for j := range pi {
				g[i][j] = float32(math.Sin(float64(step*7+i*3+j)) * 2)
				flat = append(flat, float64(g[i][j])*0.5)
			}
		}
		lr := 0.01 * float64(step)
		a.Update(lr, 0.5)
		for k := range ref {
			m[k] = 0.9*m[k] + 0.1*flat[k]
			v[k] = 0.999*v[k] + 0.001*flat[k]*flat[k]
			mhat := m[k] / (1 - math.Pow(0.9, float64(step)))
			vhat := v[k] / (1 - math.Pow(0.999, float64(step)))
			ref[k] -= lr * mhat / (math.Sqrt(vhat) + 1e-8)
		}
		got := []float64{float64(p[0][0]), float64(p[0][1]), float64(p[0][2]), float64(p[1][0])}
		for k := range ref {
			if math.Abs(got[k]-ref[k]) > 1e-5 {
				t.Fatalf("step %d: p[%d] = %v, want %v", step, k, got[k], ref[k])
			}
		}
	}
}

func TestClipWarmupAndEMA(t *testing.T) {
	g := [][]float32{{3, 0}, {4}}
	if n := GlobalNorm(g); n != 5 {
		t.Fatalf("GlobalNorm = %v, want 5", n)
	}
	if s := ClipScale(5, 1); s != 0.2 {
		t.Fatalf("ClipScale(5, 1) = %v, want 0.2", s)
	}
	if s := ClipScale(0.5, 1); s != 1 {
		t.Fatalf("ClipScale(0.5, 1) = %v, want 1 (no clipping below the bound)", s)
	}
	if s := ClipScale(5, 0); s != 1 {
		t.Fatalf("ClipScale(5, 0) = %v, want 1 (off)", s)
	}
	// Warm-up over 200 steps, cooldown over the last 1000 of 5000.
	sched := Settings{LR: 2e-4, Warmup: 200, Cooldown: 1000, Steps: 5000}
	for _, c := range []struct {
		step int
		want float64
	}{{50, 5e-5}, {200, 2e-4}, {500, 2e-4}, {4000, 2e-4}, {4500, 1e-4}, {4900, 2e-5}, {5000, 0}, {5100, 0}} {
		if lr := sched.LRAt(c.step); math.Abs(lr-c.want) > 1e-12 {
			t.Errorf("LRAt(%d) = %v, want %v", c.step, lr, c.want)
		}
	}
	if lr := (Settings{LR: 2e-4, Steps: 5000}).LRAt(1); lr != 2e-4 {
		t.Errorf("LRAt without warm-up or cooldown = %v, want the constant 2e-4", lr)
	}
	p := [][]float32{{1}}
	e := NewEMA(p, 0.999, DefaultEMARamp)
	want := 1.0
	for n := 1; n <= 50; n++ {
		p[0][0] = float32(n)
		e.Update(p)
		d := math.Min(0.999, float64(1+n)/float64(10+n))
		want = d*want + (1-d)*float64(n)
	}
	if math.Abs(float64(e.Shadow[0][0])-want) > 1e-4*want {
		t.Fatalf("EMA = %v, want %v", e.Shadow[0][0], want)
	}
	// With ramp 2 the warm-up is a running mean in which the starting
	// value counts twice: after values 1 (the start), 1, 2, ..., 50 it is
	// (2 + 50*51/2) / 52.
	p[0][0] = 1
	mean := NewEMA(p, 0.999, 2)
	for n := 1; n <= 50; n++ {
		p[0][0] = float32(n)
		mean.Update(p)
	}
	if want := (2 + 50*51/2) / 52.0; math.Abs(float64(mean.Shadow[0][0])-want) > 1e-5*want {
		t.Fatalf("EMA with ramp 2 = %v, want the running mean %v", mean.Shadow[0][0], want)
	}
	// Ramp 1 has no warm-up: the decay is the cap from the first update.
	if d := EMADecay(0.999, 1, 1); d != 0.999 {
		t.Fatalf("EMADecay with ramp 1 at update 1 = %v, want 0.999", d)
	}
}

// FromTrain carries the train section's settings over, with torch's epsilon.
func TestFromTrain(t *testing.T) {
	got := FromTrain(configs.Train{Steps: 90, LR: 1e-3, Beta1: 0.5, Beta2: 0.9, Warmup: 7, Cooldown: 30, GradClip: 2, EMA: 0.99, EMARamp: 4})
	want := Settings{LR: 1e-3, Beta1: 0.5, Beta2: 0.9, Eps: 1e-8, Warmup: 7, Cooldown: 30, Steps: 90, Clip: 2, EMA: 0.99, EMARamp: 4}
	if got != want {
		t.Fatalf("FromTrain = %+v, want %+v", got, want)
	}
	if got := FromTrain(configs.Train{Steps: 50, Cooldown: 2000}); got.Cooldown != 50 {
		t.Fatalf("FromTrain of a 50-step run with a 2000-step cooldown: cooldown %d, want the whole run, 50", got.Cooldown)
	}
}

// Follow moves a value towards its batch value by the momentum, as
// torch's BatchNorm running statistics: (1 - m) v + m b, against float64.
func TestFollow(t *testing.T) {
	v, b := []float32{1, -2, 0.5}, []float32{3, 0, -0.5}
	want := make([]float64, len(v))
	for i := range v {
		want[i] = 0.9*float64(v[i]) + 0.1*float64(b[i])
	}
	Follow(v, b, 0.1)
	for i := range v {
		if math.Abs(float64(v[i])-want[i]) > 1e-6 {
			t.Errorf("element %d: %v, want %v", i, v[i], want[i])
		}
	}
}
