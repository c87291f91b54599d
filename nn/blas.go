package nn

// OpenBLAS provides the SGEMM/DGEMM behind convolutions and matrix products;
// linking it here means no build needs CGO_LDFLAGS set by hand.

/*
#cgo LDFLAGS: -lopenblas
*/
import "C"

import (
	"unsafe"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/netlib/blas/netlib"

	"github.com/scoregen/scoregen/engine"
)

var openblas netlib.Implementation

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
		openblas.Sgemm(trans(transA), trans(transB), m, n, k, float32(alpha), as32(a), lda, as32(b), ldb, float32(beta), as32(c), ldc)
		return
	}
	openblas.Dgemm(trans(transA), trans(transB), m, n, k, float64(alpha), as64(a), lda, as64(b), ldb, float64(beta), as64(c), ldc)
}

func as32[T engine.Float](s []T) []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

func as64[T engine.Float](s []T) []float64 {
	return unsafe.Slice((*float64)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}
