package engine

import (
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Float is the element type a kernel may be instantiated for. Plans run in
// float32; the float64 instantiation exists so that tests can check kernels
// against finite differences at full precision.
type Float interface{ ~float32 | ~float64 }

// Tensor is a dense row-major (NCHW) view of a buffer.
type Tensor[T Float] struct {
	Shape tensor.Shape
	Data  []T
}

// Call is one invocation of a kernel: where its inputs are, where its output
// goes, and the scratch space it asked for with ScratchSize.
type Call[T Float] struct {
	Out     Tensor[T]
	In      []Tensor[T]
	Scratch []T
	// BatchInvariant: compute each image of the batch (the first axis) bit
	// for bit as it would be computed alone (CPU.BatchInvariant).
	BatchInvariant bool
	// BF16: the kernel may multiply in BF16, accumulating in FP32
	// (CPU.BF16).
	BF16 bool
}

// CPUOp is an op that the CPU backend can run.
type CPUOp interface {
	gorgonia.Op
	// ScratchSize is the number of scratch elements one call needs for
	// inputs of these shapes.
	ScratchSize(in []tensor.Shape) int
	// BindCPU returns a function that computes c.Out from c.In each time it
	// is called. Buffers never move after binding, so the function must not
	// allocate.
	BindCPU(c *Call[float32]) func()
}

// InPlaceOp is implemented by ops whose output may share the buffer of one of
// their inputs (element-wise ops): InPlace returns that input's index, or -1.
// The engine uses it only when that input is read by nothing later.
type InPlaceOp interface {
	InPlace() int
}
