package numdiff

import (
	"math"
	"testing"
)

func TestOf(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, c := range []struct {
		name      string
		got, want []float32
		abs, rel  float64
		at        int
		within1e3 bool
	}{
		{"equal", []float32{1, -2, inf}, []float32{1, -2, inf}, 0, 0, 0, true},
		{"largest of several", []float32{1.5, -2, 3}, []float32{1, -4, 3}, 2, 0.5, 1, false},
		{"relative to the scale", []float32{1000, 0.001}, []float32{1000, 0}, float64(float32(0.001)), float64(float32(0.001)) / 1000, 1, true},
		{"NaN got", []float32{1, nan}, []float32{1, 2}, math.Inf(1), math.Inf(1), 1, false},
		{"NaN both", []float32{nan}, []float32{nan}, math.Inf(1), math.Inf(1), 0, false},
		{"infinity against finite", []float32{inf, 1}, []float32{1, 1}, math.Inf(1), math.Inf(1), 0, false},
		{"zero reference", []float32{0, 1e-9}, []float32{0, 0}, float64(float32(1e-9)), math.Inf(1), 1, false},
	} {
		d := Of(c.got, c.want)
		if d.MaxAbs != c.abs || d.At != c.at || math.Abs(d.MaxRel-c.rel) > 1e-12*c.rel || d.Within(1e-3) != c.within1e3 {
			t.Errorf("%s: %+v; want abs %g, rel %g at %d, within 1e-3 %v", c.name, d, c.abs, c.rel, c.at, c.within1e3)
		}
	}
}
