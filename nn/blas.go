package nn

// OpenBLAS provides the SGEMM/DGEMM behind convolutions and matrix products;
// linking it here means no build needs CGO_LDFLAGS set by hand.

/*
#cgo LDFLAGS: -lopenblas
void openblas_set_num_threads(int);
*/
import "C"

import (
	"math"
	"sync"
	"time"
	"unsafe"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/netlib/blas/netlib"

	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/internal/par"
)

var openblas netlib.Implementation

// gemmLibrary is what gemm calls, for the profile.
const gemmLibrary = "OpenBLAS"

// OpenBLAS's own threads spin after each call and then compete with our
// element-wise kernels for the cores (a third of a step's CPU time went to
// their spinning); splitting large products over our own workers is faster.
func init() { C.openblas_set_num_threads(1) }

func trans(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}

// gemm computes c = alpha * op(a) * op(b) + beta * c for row-major matrices,
// where op(a) is m x k and op(b) is k x n.
func gemm[T engine.Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	// A type switch on any(a) would box the slice and allocate; the element
	// size tells the two instantiations apart for free.
	if unsafe.Sizeof(alpha) == 4 {
		sgemm(transA, transB, m, n, k, float32(alpha), as32(a), lda, as32(b), ldb, float32(beta), as32(c), ldc)
		return
	}
	openblas.Dgemm(trans(transA), trans(transB), m, n, k, float64(alpha), as64(a), lda, as64(b), ldb, float64(beta), as64(c), ldc)
}

// splitFlops is the smallest product (m*n*k) worth splitting across cores.
const splitFlops = 1 << 20

// job holds the arguments of the product being split, so that the function
// handed to par.For is a plain function and no closure is allocated.
var job struct {
	sync.Mutex
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
	parts          int
}

func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m*n*k < splitFlops {
		openblas.Sgemm(trans(transA), trans(transB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	job.Lock()
	defer job.Unlock()
	job.transA, job.transB, job.m, job.n, job.k = transA, transB, m, n, k
	job.alpha, job.beta, job.a, job.b, job.c = alpha, beta, a, b, c
	job.lda, job.ldb, job.ldc = lda, ldb, ldc
	job.parts = par.Workers()
	par.For(job.parts, 1, sgemmParts)
	job.a, job.b, job.c = nil, nil, nil
}

// sgemmParts computes parts [lo, hi) of the product in job, each a band of
// rows of c (or of columns, when c is wider than tall), 16-aligned.
func sgemmParts(lo, hi int) {
	j := &job
	band := func(p, size int) int { return min(size, (p*size/j.parts+15)/16*16) }
	if j.m >= j.n {
		r0, r1 := band(lo, j.m), band(hi, j.m)
		if r0 >= r1 {
			return
		}
		a := j.a[r0:] // a is stored k x m: the band is a block of columns
		if !j.transA {
			a = j.a[r0*j.lda:]
		}
		openblas.Sgemm(trans(j.transA), trans(j.transB), r1-r0, j.n, j.k, j.alpha, a, j.lda, j.b, j.ldb, j.beta, j.c[r0*j.ldc:], j.ldc)
		return
	}
	c0, c1 := band(lo, j.n), band(hi, j.n)
	if c0 >= c1 {
		return
	}
	b := j.b[c0:]
	if j.transB { // b is stored n x k: the band is a block of rows
		b = j.b[c0*j.ldb:]
	}
	openblas.Sgemm(trans(j.transA), trans(j.transB), j.m, c1-c0, j.k, j.alpha, j.a, j.lda, b, j.ldb, j.beta, j.c[c0:], j.ldc)
}

func as32[T engine.Float](s []T) []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

func as64[T engine.Float](s []T) []float64 {
	return unsafe.Slice((*float64)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

// GEMMPeak is a library's SGEMM speed on this machine, measured now.
type GEMMPeak struct {
	Library string
	GFLOPs  float64
}

// PeakGEMM measures the SGEMM speed of the libraries the kernels call, in
// GFLOP/s, on square products of size n on all cores (the best of reps),
// so that a profile can set each op's speed beside the machine's limit
// measured in the same run: OpenBLAS (matrix products, split across our
// workers as the kernels split them) and oneDNN (whose convolutions share
// its AVX-512 kernels, unlike an OpenBLAS held to AVX2 by
// OPENBLAS_CORETYPE).
func PeakGEMM(n, reps int) []GEMMPeak {
	a, b, c := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
	for i := range a {
		a[i], b[i] = float32(i%7)/7, float32(i%5)/5
	}
	flops := 2 * float64(n) * float64(n) * float64(n)
	best := func(run func()) float64 {
		t := math.Inf(1)
		for range reps {
			start := time.Now()
			run()
			t = min(t, time.Since(start).Seconds())
		}
		return flops / t / 1e9
	}
	return []GEMMPeak{
		{gemmLibrary, best(func() { sgemm(false, false, n, n, n, 1, a, n, b, n, 0, c, n) })},
		{ConvOneDNN, best(func() { dnnlSgemm(n, n, n, a, b, c) })},
	}
}
