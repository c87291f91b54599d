package par

import (
	"sync/atomic"
	"testing"
)

// Every index is visited exactly once, whatever the split.
func TestForCoversEachIndexOnce(t *testing.T) {
	for _, c := range []struct{ n, grain int }{{0, 1}, {1, 1}, {7, 1}, {1000, 1}, {1000, 300}, {1 << 16, 1 << 10}} {
		hits := make([]int32, c.n)
		For(c.n, c.grain, func(lo, hi int) {
			if hi-lo < min(c.grain, c.n) {
				t.Errorf("n=%d grain=%d: range [%d,%d) shorter than the grain", c.n, c.grain, lo, hi)
			}
			for i := lo; i < hi; i++ {
				atomic.AddInt32(&hits[i], 1)
			}
		})
		for i, h := range hits {
			if h != 1 {
				t.Fatalf("n=%d grain=%d: index %d visited %d times", c.n, c.grain, i, h)
			}
		}
	}
}

// A For inside a For's body runs serially instead of deadlocking.
func TestNestedForRunsSerially(t *testing.T) {
	var total atomic.Int64
	For(4, 1, func(lo, hi int) {
		for range hi - lo {
			For(100, 1, func(lo, hi int) { total.Add(int64(hi - lo)) })
		}
	})
	if total.Load() != 400 {
		t.Fatalf("nested loops covered %d indices, want 400", total.Load())
	}
}

func TestForDoesNotAllocate(t *testing.T) {
	sum := make([]int, 1<<16)
	body := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			sum[i]++
		}
	}
	if n := testing.AllocsPerRun(20, func() { For(len(sum), 1<<10, body) }); n != 0 {
		t.Fatalf("For allocates %v times per call", n)
	}
}
