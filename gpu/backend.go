//go:build gpu

package gpu

import (
	"fmt"
	"math"
	"unsafe"

	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/engine"
)

// Op is an op that the CUDA backend can run (the nn ops, in their files
// with the tag gpu).
type Op interface {
	// ScratchGPU is the device scratch, in float32 elements, that one call
	// needs for inputs of these shapes.
	ScratchGPU(in []tensor.Shape) int
	// BindGPU returns a function that launches the op's kernels from c.In
	// into c.Out on b's device. It runs inside Device.Do, so it may launch
	// directly; it must not allocate device memory.
	BindGPU(b *Backend, c *Call) (func() error, error)
}

// Buf is a tensor in device memory.
type Buf struct {
	Ptr   Ptr
	Shape tensor.Shape
}

// Size is the number of elements (1 for a scalar).
func (b Buf) Size() int { return max(b.Shape.TotalSize(), 1) }

// Call is one op's buffers, as engine.Call is on the CPU.
type Call struct {
	Out     Buf
	In      []Buf
	Scratch Ptr
}

// Backend runs engine plans on a device: the arena of the plans compiled
// on it (engine.CompileShared) is one device buffer, and the first Run of
// each plan records its steps, Pre and Post included, into a CUDA graph
// that every later Run of that plan replays.
type Backend struct {
	D *Device
	// Poison fills the arena with NaN when it is made, so that an element
	// that no kernel writes shows up in tests.
	Poison bool

	arena, scratch Ptr
	// uniforms are host values that kernels read from device memory, the
	// i-th at uniformDev + 8i, copied there before each replay (the dropout
	// step, say), since a graph keeps the values of its kernels' arguments.
	uniforms    []*uint64
	uniformHost *Pinned
	uniformDev  Ptr
	graphs      map[*engine.Plan]*Graph
}

const maxUniforms = 64

// NewBackend returns a backend on d for the plans compiled together on it.
func NewBackend(d *Device) *Backend { return &Backend{D: d, graphs: map[*engine.Plan]*Graph{}} }

func (b *Backend) ScratchSize(op any, in []tensor.Shape) int {
	if op, ok := op.(Op); ok {
		return op.ScratchGPU(in)
	}
	return 0
}

func (b *Backend) Alloc(n, scratch int) error {
	return b.D.Do(func() (err error) {
		if b.arena, err = b.D.Pool.Alloc(4 * int64(max(n, 1))); err != nil {
			return err
		}
		if scratch > 0 {
			if b.scratch, err = b.D.Pool.Alloc(4 * int64(scratch)); err != nil {
				return err
			}
		}
		if b.uniformDev, err = b.D.Pool.Alloc(8 * maxUniforms); err != nil {
			return err
		}
		if b.uniformHost, err = AllocPinned(2 * maxUniforms); err != nil {
			return err
		}
		if b.Poison {
			nan := math.Float32bits(float32(math.NaN()))
			for _, buf := range []struct {
				p Ptr
				n int
			}{{b.arena, n}, {b.scratch, scratch}} {
				if buf.n > 0 {
					if err := b.D.Fill32(buf.p, nan, buf.n); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
}

// Slot is the device address of a slot of the plan.
func (b *Backend) Slot(s engine.Slot) Buf { return Buf{Ptr: b.arena.Add(s.Offset), Shape: s.Shape} }

// Uniform returns the device address where *v is found during each Run.
func (b *Backend) Uniform(v *uint64) (Ptr, error) {
	for i, u := range b.uniforms {
		if u == v {
			return b.uniformDev + Ptr(8*i), nil
		}
	}
	return b.UniformBlock(unsafe.Slice(v, 1))
}

// UniformBlock returns the device address where the words of block are
// found, one after another, during each Run: per-step arguments that
// kernels read as a struct.
func (b *Backend) UniformBlock(block []uint64) (Ptr, error) {
	if len(b.uniforms)+len(block) > maxUniforms {
		return 0, fmt.Errorf("gpu: more than %d words of per-step values in one plan", maxUniforms)
	}
	at := b.uniformDev + Ptr(8*len(b.uniforms))
	for i := range block {
		b.uniforms = append(b.uniforms, &block[i])
	}
	return at, nil
}

func (b *Backend) Bind(op any, out engine.Slot, in []engine.Slot) (func() error, error) {
	c := &Call{Out: b.Slot(out), In: make([]Buf, len(in)), Scratch: b.scratch}
	for i, s := range in {
		c.In[i] = b.Slot(s)
	}
	switch op := op.(type) {
	case engine.GradSum:
		n := c.Out.Size()
		return func() error {
			return b.D.Launch("add2", b.D.Grid(n), Threads, c.Out.Ptr, c.In[0].Ptr, c.In[1].Ptr, n)
		}, nil
	case Op:
		return op.BindGPU(b, c)
	}
	return nil, fmt.Errorf("op %v (%T) has no CUDA kernel: only nn ops can be compiled", op, op)
}

func (b *Backend) Write(off int, src []float32) error {
	if len(src) == 0 {
		return nil
	}
	return b.D.Do(func() error { return b.D.CopyIn(b.arena.Add(off), unsafe.Pointer(&src[0]), int64(4*len(src))) })
}

func (b *Backend) Read(off int, dst []float32) error {
	if len(dst) == 0 {
		return nil
	}
	return b.D.Do(func() error { return b.D.CopyOut(unsafe.Pointer(&dst[0]), b.arena.Add(off), int64(4*len(dst))) })
}

// Run replays p's graph, recording it from steps first if need be, and
// waits for it to finish.
func (b *Backend) Run(p *engine.Plan, steps []func() error) error {
	return b.D.Do(func() error {
		err := b.replay(p, steps)
		if err != nil {
			b.D.stream.Synchronize() // the uniforms' copy may still be reading its pinned buffer
		}
		return err
	})
}

func (b *Backend) replay(p *engine.Plan, steps []func() error) error {
	if len(b.uniforms) > 0 {
		host := unsafe.Slice((*uint64)(unsafe.Pointer(&b.uniformHost.Floats()[0])), maxUniforms)
		for i, u := range b.uniforms {
			host[i] = *u
		}
		if err := upload(b.uniformDev, b.uniformHost, 2*len(b.uniforms), b.D.stream); err != nil {
			return err
		}
	}
	graph := b.graphs[p]
	if graph == nil {
		g, err := b.D.Capture(func() error {
			for _, s := range steps {
				if err := s(); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		graph, b.graphs[p] = g, g
	}
	if err := b.D.Replay(graph); err != nil {
		return err
	}
	if err := b.D.Sync(); err != nil {
		return fmt.Errorf("gpu: running the plan: %w", err)
	}
	return nil
}

// Close frees the plan's device memory.
func (b *Backend) Close() error {
	return b.D.Do(func() error {
		for p, g := range b.graphs {
			g.Destroy()
			delete(b.graphs, p)
		}
		for _, p := range []Ptr{b.arena, b.scratch, b.uniformDev} {
			if p != 0 {
				b.D.Pool.Free(p)
			}
		}
		if b.uniformHost != nil {
			b.D.FreePinned(b.uniformHost)
		}
		b.arena, b.scratch, b.uniformDev, b.uniformHost = 0, 0, 0, nil
		return nil
	})
}
