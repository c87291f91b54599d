package sde

import (
	"testing"

	"github.com/scoregen/scoregen/internal/philox"
)

// TestFillNormalsKeying checks Normals (split across goroutines) against
// the documented keying, element by element, on a length that is not a
// multiple of 4 and is long enough to be split, starting at an offset that
// is not a multiple of 4 either.
func TestFillNormalsKeying(t *testing.T) {
	const n, off = 3*minParallel + 3, 4*minParallel + 1
	const seed, stream, draw = 0x0123456789abcdef, 77, 0xfedcba9876543210
	got := make([]float32, n)
	Normals(got, seed, stream, draw, off)
	key := [2]uint32{0x89abcdef, 0x01234567}
	for i := range n {
		j := off + i
		r := philox.Block([4]uint32{uint32(j / 4), stream, 0x76543210, 0xfedcba98}, key)
		a, b := philox.NormalPair(r[0], r[1])
		c, d := philox.NormalPair(r[2], r[3])
		if want := float32([4]float64{a, b, c, d}[j%4]); got[i] != want {
			t.Fatalf("element %d = %v, want %v", j, got[i], want)
		}
	}
}
