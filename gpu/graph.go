//go:build gpu

package gpu

// #cgo LDFLAGS: -lcuda
// #cgo linux CFLAGS: -I/usr/local/cuda/include
// #cgo linux LDFLAGS: -L/usr/local/cuda/lib64
// #include <cuda.h>
import "C"

import (
	"fmt"
	"unsafe"

	"gorgonia.org/cu"
)

// The driver calls that gorgonia.org/cu lacks: stream capture and graph
// launches, and pinned host memory.

func cstream(s cu.Stream) C.CUstream { return C.CUstream(unsafe.Pointer(s.C())) }

func check(what string, r C.CUresult) error {
	if r == C.CUDA_SUCCESS {
		return nil
	}
	var name *C.char
	C.cuGetErrorName(r, &name)
	if name == nil {
		return fmt.Errorf("gpu: %s: CUDA error %d", what, int(r))
	}
	return fmt.Errorf("gpu: %s: %s", what, C.GoString(name))
}

// Graph is a captured sequence of work on the device's stream, replayed by
// Replay with one call.
type Graph struct {
	graph C.CUgraph
	exec  C.CUgraphExec
}

// Capture records the kernels and copies that fn issues on the device's
// stream (without running them) into a graph. It runs inside Do.
func (d *Device) Capture(fn func() error) (*Graph, error) {
	s := cstream(d.stream)
	if err := check("beginning stream capture", C.cuStreamBeginCapture(s, C.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL)); err != nil {
		return nil, err
	}
	ferr := fn()
	var g Graph
	err := check("ending stream capture", C.cuStreamEndCapture(s, &g.graph))
	if ferr != nil {
		if g.graph != nil {
			C.cuGraphDestroy(g.graph)
		}
		return nil, ferr
	}
	if err != nil {
		return nil, err
	}
	if err := check("instantiating the captured graph", C.cuGraphInstantiateWithFlags(&g.exec, g.graph, 0)); err != nil {
		C.cuGraphDestroy(g.graph)
		return nil, err
	}
	return &g, nil
}

// Replay runs the graph on the device's stream. It runs inside Do.
func (d *Device) Replay(g *Graph) error {
	return check("launching a graph", C.cuGraphLaunch(g.exec, cstream(d.stream)))
}

// Destroy frees the graph. It runs inside Do.
func (g *Graph) Destroy() {
	C.cuGraphExecDestroy(g.exec)
	C.cuGraphDestroy(g.graph)
}

// Pinned is page-locked host memory, which the device copies from
// asynchronously and at full speed.
type Pinned struct {
	p unsafe.Pointer
	n int // float32 elements
}

// AllocPinned returns n float32 elements of pinned host memory. It runs
// inside Do.
func AllocPinned(n int) (*Pinned, error) {
	var p unsafe.Pointer
	if err := check(fmt.Sprintf("allocating %d bytes of pinned host memory", 4*n), C.cuMemAllocHost(&p, C.size_t(4*max(n, 1)))); err != nil {
		return nil, err
	}
	return &Pinned{p: p, n: n}, nil
}

// Floats is the buffer as a Go slice.
func (h *Pinned) Floats() []float32 { return unsafe.Slice((*float32)(h.p), h.n) }

// FreePinned waits for the copies that may still read h, then frees it. It
// runs inside Do.
func (d *Device) FreePinned(h *Pinned) {
	d.copies.Synchronize()
	d.stream.Synchronize()
	C.cuMemFreeHost(h.p)
}

// upload copies the first n elements of h to dst on stream s.
func upload(dst Ptr, h *Pinned, n int, s cu.Stream) error {
	return check("copying to the device", C.cuMemcpyHtoDAsync(C.CUdeviceptr(dst), h.p, C.size_t(4*n), cstream(s)))
}

// Upload copies the first n elements of h to dst on the copy stream; work
// issued afterwards on the device's stream waits for the copy, while work
// issued before it runs alongside. h must stay unchanged until that work
// has finished. It runs inside Do.
func (d *Device) Upload(dst Ptr, h *Pinned, n int) error {
	if n > h.n {
		return fmt.Errorf("gpu: uploading %d elements from a pinned buffer of %d", n, h.n)
	}
	if err := upload(dst, h, n, d.copies); err != nil {
		return err
	}
	if err := d.copied.Record(d.copies); err != nil {
		return fmt.Errorf("gpu: recording an upload: %w", err)
	}
	if err := d.stream.Wait(d.copied, 0); err != nil {
		return fmt.Errorf("gpu: waiting for an upload: %w", err)
	}
	return nil
}
