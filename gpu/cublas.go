//go:build gpu

package gpu

// cuBLAS is opened at run time with dlopen, so that one binary runs with
// whichever CUDA release the machine has (11 to 13); the prototypes are
// declared here by hand rather than taken from a header of one release.

// #cgo LDFLAGS: -ldl
// #define _GNU_SOURCE
// #include <dlfcn.h>
// #include <stdlib.h>
//
// // file_of is the path of the loaded file that holds symbol f.
// static const char *file_of(void *f) {
//   Dl_info info;
//   return dladdr(f, &info) ? info.dli_fname : NULL;
// }
//
// typedef int (*create_fn)(void **handle);
// typedef int (*destroy_fn)(void *handle);
// typedef int (*version_fn)(void *handle, int *version);
// typedef int (*set_stream_fn)(void *handle, void *stream);
// typedef int (*set_workspace_fn)(void *handle, void *ws, size_t bytes);
// typedef int (*gemm_fn)(void *handle, int transa, int transb, int m, int n, int k,
//     const void *alpha, const void *a, int atype, int lda, long long stride_a,
//     const void *b, int btype, int ldb, long long stride_b,
//     const void *beta, void *c, int ctype, int ldc, long long stride_c,
//     int batch, int compute, int algo);
//
// static int call_create(void *f, void **h) { return ((create_fn)f)(h); }
// static int call_destroy(void *f, void *h) { return ((destroy_fn)f)(h); }
// static int call_version(void *f, void *h, int *v) { return ((version_fn)f)(h, v); }
// static int call_set_stream(void *f, void *h, void *s) { return ((set_stream_fn)f)(h, s); }
// // Device addresses cross from Go as integers.
// static int call_set_workspace(void *f, void *h, unsigned long long ws, size_t n) {
//   return ((set_workspace_fn)f)(h, (void *)ws, n);
// }
// static int call_gemm(void *f, void *h, int ta, int tb, int m, int n, int k, float alpha,
//     unsigned long long a, int lda, long long sa, unsigned long long b, int ldb, long long sb,
//     float beta, unsigned long long c, int ldc, long long sc, int batch, int compute) {
//   // 0 is CUDA_R_32F; -1 is CUBLAS_GEMM_DEFAULT.
//   return ((gemm_fn)f)(h, ta, tb, m, n, k, &alpha, (const void *)a, 0, lda, sa, (const void *)b, 0, ldb, sb,
//       &beta, (void *)c, 0, ldc, sc, batch, compute, -1);
// }
import "C"

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"unsafe"

	"gorgonia.org/cu"
)

const (
	computeFP32 = 68 // CUBLAS_COMPUTE_32F
	computeTF32 = 77 // CUBLAS_COMPUTE_32F_FAST_TF32
	workspace   = 32 << 20
)

type blas struct {
	lib                              unsafe.Pointer
	lt                               unsafe.Pointer // libcublasLt, when loaded from cuBLAS's folder first
	handle                           unsafe.Pointer
	create, destroy, setStream, gemm unsafe.Pointer
	compute                          C.int
	workspace                        Ptr
	pool                             *Pool
	path, version                    string // the file opened, and cuBLAS's own version
}

// openBLAS opens the newest cuBLAS that loads and starts, binds it to
// stream, gives it a workspace, and runs one small GEMM outside any graph
// capture, so that its first-use setup is done before a graph is recorded.
// The first time in a process it logs which file it opened and its version.
func openBLAS(stream cu.Stream, pool *Pool, tf32 bool) (*blas, error) {
	var problems []string
	for _, name := range blasCandidates() {
		b, err := tryBLAS(name, stream, pool, tf32)
		if err == nil {
			blasLogged.Do(func() { slog.Info("gpu: cuBLAS opened", "path", b.path, "version", b.version) })
			return b, nil
		}
		if !errors.Is(err, errNotFound) {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) == 0 {
		return nil, fmt.Errorf("gpu: cuBLAS (libcublas.so.13, .12 or .11) not found on the loader path, in $CUDA_HOME/lib64, /usr/local/cuda/lib64 or a Python environment's nvidia/cu13/lib or nvidia/cublas/lib; install CUDA's cuBLAS or set CUDA_HOME")
	}
	return nil, fmt.Errorf("gpu: no cuBLAS works: %s", strings.Join(problems, "; "))
}

var blasLogged sync.Once

// tryBLAS opens and starts the cuBLAS at name; on any failure it releases
// what it took and says why (errNotFound when there is no such library).
func tryBLAS(name string, stream cu.Stream, pool *Pool, tf32 bool) (*blas, error) {
	b := &blas{compute: computeFP32}
	if tf32 {
		b.compute = computeTF32
	}
	var err error
	if b.lib, b.lt, err = openLibrary(name); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			b.close()
			if b.workspace != 0 {
				pool.Free(b.workspace)
			}
			closeLibrary(b.lib, b.lt)
		}
	}()
	for _, s := range []struct {
		p    *unsafe.Pointer
		name string
	}{{&b.create, "cublasCreate_v2"}, {&b.destroy, "cublasDestroy_v2"}, {&b.setStream, "cublasSetStream_v2"}, {&b.gemm, "cublasGemmStridedBatchedEx"}} {
		if *s.p = b.symbol(s.name); *s.p == nil {
			return nil, fmt.Errorf("%s has no %s", name, s.name)
		}
	}
	if err := blasCheck(name+": cublasCreate", C.call_create(b.create, &b.handle)); err != nil {
		return nil, err
	}
	b.path = name
	if f := C.file_of(b.create); f != nil {
		b.path = C.GoString(f)
	}
	b.version = "unknown"
	if getVersion := b.symbol("cublasGetVersion_v2"); getVersion != nil {
		var v C.int
		if C.call_version(getVersion, b.handle, &v) == 0 {
			b.version = fmt.Sprintf("%d.%d.%d", v/10000, v%10000/100, v%100)
		}
	}
	if err := blasCheck(name+": cublasSetStream", C.call_set_stream(b.setStream, b.handle, unsafe.Pointer(stream.C()))); err != nil {
		return nil, err
	}
	// A workspace of our own, so that cuBLAS allocates nothing while a
	// graph is being captured.
	if setWS := b.symbol("cublasSetWorkspace_v2"); setWS != nil {
		var err error
		if b.workspace, err = pool.Alloc(workspace); err != nil {
			return nil, err
		}
		if err := blasCheck(name+": cublasSetWorkspace", C.call_set_workspace(setWS, b.handle, C.ulonglong(b.workspace), workspace)); err != nil {
			return nil, err
		}
	}
	// A 1x1x1 product on a buffer of its own, then wait for it.
	buf, err := pool.Alloc(16)
	if err != nil {
		return nil, err
	}
	defer pool.Free(buf)
	x := C.ulonglong(buf)
	if err := blasCheck(name+": a first GEMM", C.call_gemm(b.gemm, b.handle, 0, 0, 1, 1, 1, 1, x, 1, 0, x+4, 1, 0, 0, x+8, 1, 0, 1, b.compute)); err != nil {
		return nil, err
	}
	if err := stream.Synchronize(); err != nil {
		return nil, fmt.Errorf("%s: a first GEMM: %w", name, err)
	}
	ok = true
	return b, nil
}

func (b *blas) symbol(name string) unsafe.Pointer {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	return C.dlsym(b.lib, cname)
}

func (b *blas) close() {
	if b != nil && b.handle != nil {
		C.call_destroy(b.destroy, b.handle)
		b.handle = nil
	}
}

func blasCheck(what string, status C.int) error {
	if status != 0 {
		return fmt.Errorf("gpu: %s: cuBLAS status %d", what, int(status))
	}
	return nil
}

// Gemm computes, for each of batch matrices, C = alpha op(A) op(B) + beta C
// in row-major layout: op(A) is [m, k], op(B) is [k, n] and C is [m, n], with
// leading dimensions lda, ldb, ldc and batch strides sa, sb, sc (elements;
// 0 repeats a matrix). It runs inside Do.
func (d *Device) Gemm(transA, transB bool, m, n, k int, alpha float32, a Ptr, lda, sa int, b Ptr, ldb, sb int,
	beta float32, c Ptr, ldc, sc, batch int) error {
	// Row-major C = A B is column-major C^T = B^T A^T: swap the operands.
	st := C.call_gemm(d.blas.gemm, d.blas.handle, op(transB), op(transA), C.int(n), C.int(m), C.int(k), C.float(alpha),
		C.ulonglong(b), C.int(ldb), C.longlong(sb), C.ulonglong(a), C.int(lda), C.longlong(sa),
		C.float(beta), C.ulonglong(c), C.int(ldc), C.longlong(sc), C.int(batch), d.blas.compute)
	if st != 0 {
		return fmt.Errorf("gpu: cuBLAS GEMM %dx%dx%d (batch %d): status %d", m, n, k, batch, int(st))
	}
	return nil
}

func op(trans bool) C.int {
	if trans {
		return 1 // CUBLAS_OP_T
	}
	return 0 // CUBLAS_OP_N
}
