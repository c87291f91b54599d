package sde

import (
	"math"
	"testing"
)

// Replaying EMSchedule with the update written out by hand gives exactly
// what EulerMaruyama gives: the schedule is what the fused GPU kernel needs.
func TestEMScheduleReplaysEulerMaruyama(t *testing.T) {
	s, err := NewVP(0.1, 20, 1000)
	if err != nil {
		t.Fatal(err)
	}
	const batch, dim, steps, eps, seed = 3, 5, 7, 1e-3, 9
	score := func(x, _, out []float32) error {
		for i, v := range x {
			out[i] = -v // the score of N(0, I)
		}
		return nil
	}
	want := make([]float32, batch*dim)
	if err := EulerMaruyama(s, score, want, batch, steps, eps, seed, nil); err != nil {
		t.Fatal(err)
	}
	sched, err := EMSchedule(s, steps, eps)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, batch*dim)
	fillNormals(x, seed, StreamPrior, 0)
	for _, st := range sched {
		z := newNormals(seed, StreamPredictor, st.Draw)
		for j, v := range x {
			xm := float64(v) + (st.F*float64(v)-st.G*st.G*float64(-v))*st.DT
			if !st.Last {
				xm += st.G * math.Sqrt(-st.DT) * float64(float32(z.at(j)))
			}
			x[j] = float32(xm)
		}
	}
	for j := range want {
		if x[j] != want[j] {
			t.Fatalf("element %d: %v from the schedule, %v from EulerMaruyama", j, x[j], want[j])
		}
	}
	if _, err := EMSchedule(s, 0, eps); err == nil {
		t.Error("EMSchedule accepted 0 steps")
	}
}
