package score

import (
	"math"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/netlib/blas/netlib"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/data"
)

// diameter is the largest Euclidean distance between two of the n images
// of d values in x: ||a - b||^2 = |a|^2 + |b|^2 - 2 a.b, the dot products
// a block of rows at a time by OpenBLAS's SGEMM, accumulated in float64
// where it matters (the norms; the distances of the largest pairs are
// recomputed exactly).
func diameter(x []float32, n, d int) float64 {
	norms := make([]float64, n)
	for i := range n {
		for _, v := range x[i*d : (i+1)*d] {
			norms[i] += float64(v) * float64(v)
		}
	}
	const block = 2048
	type pair struct{ i, j int }
	var mu sync.Mutex
	best, bestPair := -1.0, pair{}
	var wg sync.WaitGroup
	rows := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			g := make([]float32, block*block)
			for r := range rows {
				for c := 0; c <= r; c += block {
					m, k := min(block, n-r), min(block, n-c)
					netlib.Implementation{}.Sgemm(blas.NoTrans, blas.Trans, m, k, d, 1, x[r*d:], d, x[c*d:], d, 0, g, k)
					for i := range m {
						for j := range k {
							if dd := norms[r+i] + norms[c+j] - 2*float64(g[i*k+j]); dd > best {
								mu.Lock()
								if dd > best {
									best, bestPair = dd, pair{r + i, c + j}
								}
								mu.Unlock()
							}
						}
					}
				}
			}
		})
	}
	for r := 0; r < n; r += block {
		rows <- r
	}
	close(rows)
	wg.Wait()
	var exact float64
	for k := range d {
		v := float64(x[bestPair.i*d+k]) - float64(x[bestPair.j*d+k])
		exact += v * v
	}
	return math.Sqrt(exact)
}

// TestDiameter checks diameter against all pairs in float64 on a small set.
func TestDiameter(t *testing.T) {
	const n, d = 3000, 7
	x := make([]float32, n*d)
	for j := range x {
		x[j] = float32(math.Sin(float64(j*j%9973)) * 3)
	}
	want := 0.0
	for a := range n {
		for b := range a {
			var s float64
			for k := range d {
				v := float64(x[a*d+k]) - float64(x[b*d+k])
				s += v * v
			}
			want = max(want, s)
		}
	}
	if got := diameter(x, n, d); math.Abs(got-math.Sqrt(want)) > 1e-9 {
		t.Errorf("diameter %v, all pairs %v", got, math.Sqrt(want))
	}
}

// TestVESigmaMaxIsTheDataDiameter derives the VE SDE's sigma_max by
// Technique 1 of Song & Ermon 2020, the largest distance between two
// training images in the [-1, 1] the network sees, for each data set in
// the cache, and checks configs.VESigmaMax against it: at least the
// diameter, and within 1 above it (it is rounded up). It reads the data
// sets that make data has fetched into the cache and fetches none (a
// fresh CI machine has none, and skips); about 20 s each on 2 cores.
func TestVESigmaMaxIsTheDataDiameter(t *testing.T) {
	derived := 0
	for _, name := range []string{"mnist", "fashion"} {
		ds, err := data.Load(name, filepath.Join(data.DefaultCacheDir(), name), true)
		if err != nil {
			t.Logf("%s: not in the cache (make data fetches it): %v", name, err)
			continue
		}
		derived++
		d := ds.C * ds.H * ds.W
		x := make([]float32, ds.N*d)
		ds.Images(x, 0, ds.N)
		got := diameter(x, ds.N, d)
		sigma := configs.VESigmaMax[name]
		t.Logf("%s: diameter of %d training images in [-1, 1]: %.4f; sigma_max %v", name, ds.N, got, sigma)
		if !(sigma >= got && sigma < got+1) {
			t.Errorf("%s: sigma_max %v, want the diameter %.4f rounded up", name, sigma, got)
		}
	}
	if derived == 0 {
		t.Skip("no data set in the cache: make data fetches MNIST and Fashion-MNIST")
	}
}
