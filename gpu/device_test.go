//go:build gpu

package gpu

import (
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/scoregen/scoregen/internal/numdiff"
)

// GPU 0 opens, says which cuBLAS it found, and multiplies a batch of two
// row-major matrices, one transposed, as float64 loops on the host do. The
// device check runs this first: it is the smallest proof that the driver,
// the kernels' module and cuBLAS all work.
func TestDeviceAndGemm(t *testing.T) {
	d, err := Open(0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	path, version := d.BLAS()
	t.Logf("device: %v", d)
	t.Logf("cuBLAS: %s, version %s", path, version)
	const batch, m, n, k = 2, 3, 5, 4
	rng := rand.New(rand.NewPCG(1, 1))
	a, bt := make([]float32, batch*m*k), make([]float32, batch*n*k) // B is stored transposed, [n, k]
	for _, x := range [][]float32{a, bt} {
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
	}
	want := make([]float32, batch*m*n)
	for b := range batch {
		for i := range m {
			for j := range n {
				s := 0.0
				for l := range k {
					s += float64(a[b*m*k+i*k+l]) * float64(bt[b*n*k+j*k+l])
				}
				want[b*m*n+i*n+j] = float32(s)
			}
		}
	}
	got := make([]float32, len(want))
	err = d.Do(func() error {
		var bufs [3]Ptr
		for i, x := range [][]float32{a, bt, got} {
			var err error
			if bufs[i], err = d.Pool.Alloc(int64(4 * len(x))); err != nil {
				return err
			}
			defer d.Pool.Free(bufs[i])
			if err := d.CopyIn(bufs[i], unsafe.Pointer(&x[0]), int64(4*len(x))); err != nil {
				return err
			}
		}
		if err := d.Gemm(false, true, m, n, k, 1, bufs[0], k, m*k, bufs[1], k, n*k, 0, bufs[2], n, m*n, batch); err != nil {
			return err
		}
		return d.CopyOut(unsafe.Pointer(&got[0]), bufs[2], int64(4*len(got)))
	})
	if err != nil {
		t.Fatal(err)
	}
	diff := numdiff.Of(got, want)
	t.Logf("GEMM against float64 loops: %v", diff)
	if !diff.Within(1e-5) {
		t.Errorf("GEMM: %v, tolerance 1e-5", diff)
	}
}
