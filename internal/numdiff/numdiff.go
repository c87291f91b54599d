// Package numdiff measures how far a float32 tensor is from a reference:
// the largest absolute difference, and that difference relative to the
// reference's largest magnitude. The GPU-against-CPU tests print both for
// every tensor they compare, pass or fail, so that one failing run gives
// the numbers to act on.
package numdiff

import (
	"fmt"
	"math"
	"testing"
)

// Diff is how far got is from want.
type Diff struct {
	MaxAbs float64 // largest |got[i] - want[i]|; +Inf at a NaN (in either) or an unequal infinity
	MaxRel float64 // MaxAbs over the largest finite |want[i]|
	At     int     // where MaxAbs is (the first such place)
	Got    float32 // got[At]
	Want   float32 // want[At]
	Len    int
}

// Of compares got with want, element by element; they must be equally long.
// Rounding of sums in a different order touches every element, so the
// relative figure is against the reference's scale, not element-wise.
func Of(got, want []float32) Diff {
	if len(got) != len(want) {
		panic(fmt.Sprintf("numdiff: %d values against %d", len(got), len(want)))
	}
	d := Diff{Len: len(want), At: -1}
	scale := 0.0
	for i := range want {
		g, w := float64(got[i]), float64(want[i])
		if !math.IsInf(w, 0) && !math.IsNaN(w) {
			scale = max(scale, math.Abs(w))
		}
		e := math.Abs(g - w)
		switch {
		case g == w: // equal infinities too
			e = 0
		case math.IsNaN(e):
			e = math.Inf(1)
		}
		if e > d.MaxAbs || d.At < 0 {
			d.MaxAbs, d.At, d.Got, d.Want = e, i, got[i], want[i]
		}
	}
	switch {
	case d.MaxAbs == 0:
		d.MaxRel = 0
	case scale == 0:
		d.MaxRel = math.Inf(1)
	default:
		d.MaxRel = d.MaxAbs / scale
	}
	return d
}

// Within reports whether the relative difference is at most tol.
func (d Diff) Within(tol float64) bool { return d.MaxRel <= tol }

func (d Diff) String() string {
	if d.Len == 0 {
		return "empty"
	}
	return fmt.Sprintf("max abs diff %.3g, rel %.3g (at %d of %d: %g against %g)", d.MaxAbs, d.MaxRel, d.At, d.Len, d.Got, d.Want)
}

// Compare logs how far each tensor of got is from its reference in want,
// pass or fail, and fails t where one differs by more than tol relative to
// the reference's largest magnitude: the GPU tests' check against the CPU.
func Compare(t testing.TB, what string, names []string, got, want [][]float32, tol float64) {
	t.Helper()
	for i := range want {
		d := Of(got[i], want[i])
		t.Logf("%s %s: %v", what, names[i], d)
		if !d.Within(tol) {
			t.Errorf("%s %s: %v, tolerance %.2g", what, names[i], d, tol)
		}
	}
}
