package sde

import (
	"math"
	"testing"
)

// replay runs a PCSchedule with the updates written out by hand, for the
// score of N(0, I): what the fused GPU kernels do with the schedule.
func replay(sched []SamplerStep, priorStd float64, batch, dim int, seed uint64, first int) []float32 {
	x := make([]float32, batch*dim)
	Normals(x, seed, StreamPrior, 0, first*dim)
	for j, v := range x {
		x[j] = float32(priorStd * float64(v))
	}
	s, z := make([]float32, len(x)), make([]float32, len(x))
	for _, st := range sched {
		for j, v := range x {
			s[j] = -v
		}
		if st.Corrector {
			Normals(z, seed, StreamCorrector, st.Draw, first*dim)
			var gn, zn float64
			for i := range batch {
				var gg, zz float64
				for j := i * dim; j < (i+1)*dim; j++ {
					gg += float64(s[j]) * float64(s[j])
					zz += float64(z[j]) * float64(z[j])
				}
				gn += math.Sqrt(gg)
				zn += math.Sqrt(zz)
			}
			r := st.SNR * (zn / float64(batch)) / (gn / float64(batch))
			e := 2 * st.Alpha * r * r
			for j := range x {
				x[j] = float32(float64(x[j]) + e*float64(s[j]) + math.Sqrt(2*e)*float64(z[j]))
			}
			continue
		}
		g := newNormals(seed, StreamPredictor, st.Draw)
		for j, v := range x {
			xm := float64(v) + (st.F*float64(v)-st.G*st.G*float64(s[j]))*st.DT
			if !st.Last {
				xm += st.G * math.Sqrt(-st.DT) * float64(float32(g.at(first*dim+j)))
			}
			x[j] = float32(xm)
		}
	}
	return x
}

// PCSchedule lists the documented steps, and replaying it with the updates
// written out by hand gives exactly what PredictorCorrector (and, without
// corrector steps, EulerMaruyama) gives: the schedule and those updates are
// all the fused GPU sampler needs.
func TestPCScheduleReplaysTheSamplers(t *testing.T) {
	vp, err := NewVP(0.1, 20, 1000)
	if err != nil {
		t.Fatal(err)
	}
	ve, err := NewVE(0.01, 50, 1000)
	if err != nil {
		t.Fatal(err)
	}
	const batch, dim, steps, eps, seed, snr, first = 3, 5, 7, 1e-3, 9, 0.16, 6
	score := func(x, _, out []float32) error {
		for i, v := range x {
			out[i] = -v
		}
		return nil
	}
	for _, s := range []SDE{vp, ve} {
		for _, correctors := range []int{0, 2} {
			want := make([]float32, batch*dim)
			if err := PredictorCorrector(s, score, want, batch, steps, correctors, snr, eps, seed, first, nil); err != nil {
				t.Fatal(err)
			}
			sched, err := PCSchedule(s, steps, correctors, snr, eps)
			if err != nil {
				t.Fatal(err)
			}
			if len(sched) != steps*(1+correctors) {
				t.Fatalf("%d schedule entries, want %d", len(sched), steps*(1+correctors))
			}
			// The documented order, times and Philox draws: for each step i,
			// corrector j draws i*correctors+j, then the predictor draws i.
			for k, st := range sched {
				i, j := k/(1+correctors), k%(1+correctors)
				wantT := 1 + float64(i)*(eps-1)/float64(steps-1)
				corrector := j < correctors
				wantDraw := uint64(i)
				if corrector {
					wantDraw = uint64(i*correctors + j)
				}
				if st.Step != i || st.Corrector != corrector || st.Draw != wantDraw || st.T != wantT ||
					st.Last != (!corrector && i == steps-1) || (!corrector && st.DT != -1.0/steps) {
					t.Fatalf("entry %d is %+v: want step %d, corrector %v, draw %d, t %v", k, st, i, corrector, wantDraw, wantT)
				}
			}
			got := replay(sched, s.PriorStd(), batch, dim, seed, first)
			for j := range want {
				if got[j] != want[j] {
					t.Fatalf("%T, %d correctors: element %d: %v from the schedule, %v from the sampler", s, correctors, j, got[j], want[j])
				}
			}
		}
	}
	if _, err := PCSchedule(vp, 0, 0, snr, eps); err == nil {
		t.Error("PCSchedule accepted 0 steps")
	}
}
