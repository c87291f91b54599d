package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// The products in the op tests are too small to be split across cores;
// these are large enough, tall and wide, with sizes that do not divide into
// the 16-aligned bands.
func TestSplitSgemmAgainstFloat64Loop(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, s := range []struct{ m, n, k int }{{301, 77, 90}, {45, 517, 70}, {130, 130, 64}} {
		if s.m*s.n*s.k < splitFlops {
			t.Fatalf("case %v is too small to be split", s)
		}
		for _, tA := range []bool{false, true} {
			for _, tB := range []bool{false, true} {
				t.Run(fmt.Sprint(s, tA, tB), func(t *testing.T) {
					a, b, c := make([]float32, s.m*s.k), make([]float32, s.k*s.n), make([]float32, s.m*s.n)
					for _, x := range [][]float32{a, b, c} {
						for i := range x {
							x[i] = float32(rng.NormFloat64())
						}
					}
					at := func(i, p int) float64 { // op(a)[i][p]
						if tA {
							return float64(a[p*s.m+i])
						}
						return float64(a[i*s.k+p])
					}
					bt := func(p, j int) float64 {
						if tB {
							return float64(b[j*s.k+p])
						}
						return float64(b[p*s.n+j])
					}
					want := make([]float64, len(c))
					for i := range s.m {
						for j := range s.n {
							var acc float64
							for p := range s.k {
								acc += at(i, p) * bt(p, j)
							}
							want[i*s.n+j] = 0.5*acc + 2*float64(c[i*s.n+j])
						}
					}
					lda, ldb := s.k, s.n
					if tA {
						lda = s.m
					}
					if tB {
						ldb = s.k
					}
					gemm(tA, tB, s.m, s.n, s.k, 0.5, a, lda, b, ldb, 2, c, s.n)
					for i := range c {
						if math.Abs(float64(c[i])-want[i]) > 1e-4*(1+math.Abs(want[i])) {
							t.Fatalf("c[%d] = %v, want %v", i, c[i], want[i])
						}
					}
				})
			}
		}
	}
}
