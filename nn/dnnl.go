package nn

// oneDNN (Debian's libdnnl, the library behind PyTorch's CPU convolutions)
// runs the float32 convolutions and their gradients: its JIT kernels use
// the CPU's widest vectors, where OpenBLAS may be held to AVX2 by the
// environment (OPENBLAS_CORETYPE). dnnl.c holds the C side.

/*
#cgo LDFLAGS: -ldnnl
#include "dnnl_conv.h"
*/
import "C"

import (
	"fmt"
	"log"
	"runtime"
	"sync"
	"unsafe"

	"github.com/scoregen/scoregen/engine"
)

// Convolution libraries for UseConvLibrary.
const (
	ConvOneDNN = "oneDNN"
	ConvIm2col = "im2col+" + gemmLibrary
)

// convLibrary is what the float32 convolutions of plans bound from now on
// call: ConvOneDNN or ConvIm2col. The float64 kernels (tests) always use
// im2col.
var convLibrary = ConvOneDNN

// UseConvLibrary chooses what the float32 convolutions of plans compiled
// from now on call, so that cmd/bench can set the libraries side by side.
func UseConvLibrary(name string) error {
	if name != ConvOneDNN && name != ConvIm2col {
		return fmt.Errorf("convolution library %q: want %q or %q", name, ConvOneDNN, ConvIm2col)
	}
	convLibrary = name
	return nil
}

// oneDNN's kinds of convolution primitive.
const (
	dnnlForward         = C.CONV_FORWARD
	dnnlBackwardData    = C.CONV_BACKWARD_DATA
	dnnlBackwardWeights = C.CONV_BACKWARD_WEIGHTS
)

// dnnlConv is one oneDNN primitive for one layer's shapes.
type dnnlConv struct{ c *C.struct_conv }

var logISA sync.Once

// newDNNLConv makes the primitive of kind for geometry g, with a bias
// operand if bias is set, multiplying in BF16 if bf16 is.
func newDNNLConv(kind int, g convGeom, bias, bf16 bool) (*dnnlConv, error) {
	logISA.Do(func() { log.Printf("oneDNN convolutions: %s", C.GoString(C.nn_dnnl_isa_name())) })
	geom := [...]C.int{C.int(g.n), C.int(g.c), C.int(g.h), C.int(g.w), C.int(g.k), C.int(g.kh), C.int(g.kw),
		C.int(g.oh), C.int(g.ow), C.int(g.stride), C.int(g.pad)}
	var errBuf [256]C.char
	c := C.nn_conv_new(C.int(kind), &geom[0], cBool(bias), cBool(bf16), &errBuf[0], C.int(len(errBuf)))
	if c == nil {
		return nil, fmt.Errorf("%s", C.GoString(&errBuf[0]))
	}
	// The primitive lives as long as the kernel that runs it.
	d := &dnnlConv{c}
	runtime.SetFinalizer(d, func(d *dnnlConv) { C.nn_conv_free(d.c) })
	return d, nil
}

// dnnlKernel is the oneDNN kernel of a convolution call of kind, or nil
// when the call is float64 (tests), im2col is chosen, or oneDNN refused the
// shape (which it logs). oneDNN computes each image of a batch alone, so its
// kernels serve batch-invariant calls too (TestBatchInvariantOps).
func dnnlKernel[T engine.Float](kind int, g convGeom, c *engine.Call[T]) func() {
	var zero T
	if unsafe.Sizeof(zero) != 4 || convLibrary != ConvOneDNN {
		return nil
	}
	bias, bf16 := len(c.In) == 3, c.BF16 && HasBF16()
	// A batch runs in chunks of at most dnnlChunkBytes per operand, so
	// that the buffers of the reorders stay small whatever the batch.
	perImage := 4 * max(g.c*g.h*g.w, g.k*g.ohw())
	chunk := max(1, min(g.n, dnnlChunkBytes/perImage))
	var prims [2]*dnnlConv // for a whole chunk, and for the last, shorter one
	for i, n := range [2]int{chunk, g.n % chunk} {
		if n == 0 {
			continue
		}
		cg := g
		cg.n = n
		var err error
		if prims[i], err = newDNNLConv(kind, cg, bias, bf16); err != nil {
			log.Printf("%v; this convolution uses %s", err, ConvIm2col)
			return nil
		}
	}
	a, b, out := as32(c.In[0].Data), as32(c.In[1].Data), as32(c.Out.Data)
	var bs []float32
	if bias {
		bs = as32(c.In[2].Data)
	}
	if chunk == g.n {
		return func() { prims[0].run(a, b, bs, out) }
	}
	// Each operand's chunk is its slice of images; the weight gradient of
	// each chunk after the first goes to dwChunk and is added.
	xImage, yImage := g.c*g.h*g.w, g.k*g.ohw()
	var dwChunk []float32
	if kind == dnnlBackwardWeights {
		dwChunk = make([]float32, len(out))
	}
	return func() {
		for n0 := 0; n0 < g.n; n0 += chunk {
			d, nb := prims[0], chunk
			if g.n-n0 < chunk {
				d, nb = prims[1], g.n-n0
			}
			switch kind {
			case dnnlForward:
				d.run(a[n0*xImage:][:nb*xImage], b, bs, out[n0*yImage:][:nb*yImage])
			case dnnlBackwardData:
				d.run(a[n0*yImage:][:nb*yImage], b, nil, out[n0*xImage:][:nb*xImage])
			default:
				dst := out
				if n0 > 0 {
					dst = dwChunk
				}
				d.run(a[n0*xImage:][:nb*xImage], b[n0*yImage:][:nb*yImage], nil, dst)
				if n0 > 0 {
					for i, v := range dwChunk {
						out[i] += v
					}
				}
			}
		}
	}
}

// dnnlChunkBytes bounds the bytes of one operand of one oneDNN call: the
// reorder buffers take as much per operand. 8 MiB is 13 images of the
// mnist U-Net's widest layer (192 channels at 28x28): at batch 128 the
// buffers take 60 MiB less than whole batches, at no measurable cost in
// speed (cmd/bench, b32 and b128). A variable so that tests can force
// chunks.
var dnnlChunkBytes = 8 << 20

// run runs the primitive on its operands (bias may be nil), the output
// last.
func (d *dnnlConv) run(a, b, bias, out []float32) {
	if s := C.nn_conv_run(d.c, cfloats(a), cfloats(b), cfloats(bias), cfloats(out)); s != 0 {
		// Only an out-of-memory or a bug in the shapes we gave it gets here.
		panic(fmt.Sprintf("oneDNN convolution failed with status %d", int(s)))
	}
	// d's finalizer frees d.c: d must stay reachable until the C call
	// has returned, or a collection during the last run of a dropped plan
	// frees the primitive under oneDNN.
	runtime.KeepAlive(d)
}

// convLibraryFor is what a float32 convolution bound now calls, with BF16
// products asked for or not.
func convLibraryFor(bf16 bool) string {
	if convLibrary == ConvOneDNN && bf16 && HasBF16() {
		return ConvOneDNN + " BF16"
	}
	return convLibrary
}

// HasBF16 reports whether this CPU multiplies BF16 natively (AVX-512
// BF16), where engine.CPU.BF16 pays off; elsewhere the convolutions stay
// in FP32.
func HasBF16() bool { return C.nn_dnnl_has_bf16() != 0 }

// dnnlSgemm is c = a b for row-major m x k and k x n matrices, by oneDNN's
// SGEMM, for PeakGEMM.
func dnnlSgemm(m, n, k int, a, b, c []float32) {
	C.dnnl_sgemm('N', 'N', C.dnnl_dim_t(m), C.dnnl_dim_t(n), C.dnnl_dim_t(k), 1, cfloats(a), C.dnnl_dim_t(k),
		cfloats(b), C.dnnl_dim_t(n), 0, cfloats(c), C.dnnl_dim_t(n))
}

func (d *dnnlConv) impl() string {
	name := C.GoString(C.nn_conv_impl(d.c))
	runtime.KeepAlive(d) // as in run
	return name
}

func cBool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}
