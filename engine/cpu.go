package engine

import (
	"fmt"

	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/internal/par"
)

// CPU is the host backend: buffers are Go slices and kernels are the ops'
// own CPU kernels.
type CPU struct {
	// BatchInvariant asks the kernels for each image of a batch exactly
	// what they would compute for it alone (Call.BatchInvariant), so that a
	// sampler's images do not depend on its batch size, at some cost in
	// speed. Set it before Compile.
	BatchInvariant bool
	// BF16 lets the kernels that can (the convolutions) multiply in BF16
	// and accumulate in FP32: mixed precision, with every value the plan
	// keeps in FP32. Set it before Compile, where the CPU has BF16.
	BF16 bool

	arena   []float32
	scratch []float32
}

// NewCPU returns a CPU backend for one plan.
func NewCPU() *CPU { return &CPU{} }

func (c *CPU) ScratchSize(op any, in []tensor.Shape) int {
	if op, ok := op.(CPUOp); ok {
		return op.ScratchSize(in)
	}
	return 0
}

func (c *CPU) Alloc(n, scratch int) error {
	c.arena = make([]float32, n)
	c.scratch = make([]float32, scratch)
	return nil
}

// View is the memory of a slot: reading and writing it reads and writes the
// plan's value, so an optimiser can update parameters in place.
func (c *CPU) View(s Slot) []float32 {
	return c.arena[s.Offset : s.Offset+s.Size() : s.Offset+s.Size()]
}

func (c *CPU) tensor(s Slot) Tensor[float32] {
	return Tensor[float32]{Shape: s.Shape, Data: c.View(s)}
}

func (c *CPU) Bind(op any, out Slot, in []Slot) (func() error, error) {
	call := &Call[float32]{Out: c.tensor(out), In: make([]Tensor[float32], len(in)), Scratch: c.scratch, BatchInvariant: c.BatchInvariant, BF16: c.BF16}
	for i, s := range in {
		call.In[i] = c.tensor(s)
	}
	var run func()
	switch op := op.(type) {
	case GradSum:
		run = bindSum(call)
	case CPUOp:
		run = op.BindCPU(call)
	default:
		return nil, fmt.Errorf("op %v (%T) has no CPU kernel: only nn ops can be compiled", op, op)
	}
	if t := family(op, c.BF16); t != nil {
		run = timed(t, op, in, run)
	}
	return func() error { run(); return nil }, nil
}

func bindSum(c *Call[float32]) func() {
	out, a, b := c.Out.Data, c.In[0].Data, c.In[1].Data
	body := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i] = a[i] + b[i]
		}
	}
	return func() { par.For(len(out), 1<<15, body) }
}

func (c *CPU) Write(off int, src []float32) error { copy(c.arena[off:], src); return nil }
func (c *CPU) Read(off int, dst []float32) error  { copy(dst, c.arena[off:]); return nil }
