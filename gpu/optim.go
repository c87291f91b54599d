//go:build gpu

package gpu

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/scoregen/scoregen/engine"
)

// chunk is the elements per block of the optimiser kernels (CHUNK in
// kernels/optim.cu).
const chunk = 4096

// Optimizer is optim.Adam, optim.ClipScale and optim.EMA on the device, over
// parameters and gradients that live in a plan's arena: three launches
// (gradient norm, clipped Adam, EMA) that Post adds to the plan's graph.
// As on the CPU, a step whose loss or gradient norm is not finite updates
// nothing; Settle then takes back Next's count.
type Optimizer struct {
	Beta1, Beta2, Eps float64
	MaxNorm           float64 // clip the gradient's global norm to this; 0 for none
	EMADecay          float64
	EMARamp           float64 // the decay's warm-up constant, as optim.EMADecay's ramp
	Step              int     // Adam updates done
	EMAUpdates        int

	b       *Backend
	sizes   []int
	total   int
	chunks  int
	tables  Ptr // param, grad, flat, size (int64 each, per tensor), then chunk_start (int64) and chunk_tensor (int32): chunkTables
	m, v    Ptr // flat moments
	ema     Ptr // flat EMA weights
	loss    Ptr // the plan's loss, which guards the update
	norm    Ptr // one double, then the partial sums and the done counter
	partial Ptr
	done    Ptr
	ctl     []uint64 // step_ctl: step_size, sqrt_c2, ema_keep, ema_take (float64 bits)
	ctlDev  Ptr
}

// NewOptimizer makes the optimiser's device state for the parameters at
// params, with gradients at grads, of the scalar loss at loss (slots of b's
// plan). The moments start at zero and the EMA weights at the parameters'
// current values.
func NewOptimizer(b *Backend, params, grads []engine.Slot, loss engine.Slot, beta1, beta2, eps, maxNorm, emaDecay, emaRamp float64) (*Optimizer, error) {
	if len(params) != len(grads) || len(params) == 0 {
		return nil, fmt.Errorf("gpu: optimiser over %d parameters and %d gradients", len(params), len(grads))
	}
	if loss.Size() != 1 {
		return nil, fmt.Errorf("gpu: the optimiser's loss has %d elements, want 1", loss.Size())
	}
	o := &Optimizer{Beta1: beta1, Beta2: beta2, Eps: eps, MaxNorm: maxNorm, EMADecay: emaDecay, EMARamp: emaRamp, b: b, ctl: make([]uint64, 4),
		loss: b.arena.Add(loss.Offset)}
	var param, grad, flat, size []int64
	for i, p := range params {
		n := p.Size()
		if grads[i].Size() != n {
			return nil, fmt.Errorf("gpu: parameter %d has %d elements, its gradient %d", i, n, grads[i].Size())
		}
		param = append(param, int64(p.Offset))
		grad = append(grad, int64(grads[i].Offset))
		flat = append(flat, int64(o.total))
		size = append(size, int64(n))
		o.sizes = append(o.sizes, n)
		o.total += n
	}
	var err error
	if o.ctlDev, err = b.UniformBlock(o.ctl); err != nil {
		return nil, err
	}
	if o.tables, o.chunks, err = b.chunkTables(size, param, grad, flat); err != nil {
		return nil, err
	}
	return o, b.D.Do(func() error {
		for _, p := range []*Ptr{&o.m, &o.v, &o.ema} {
			if *p, err = b.D.Pool.Alloc(4 * int64(o.total)); err != nil {
				return err
			}
		}
		for _, p := range []Ptr{o.m, o.v} {
			if err := b.D.Fill32(p, 0, o.total); err != nil {
				return err
			}
		}
		if o.norm, err = b.D.Pool.Alloc(8 * int64(1+o.chunks+1)); err != nil {
			return err
		}
		o.partial, o.done = o.norm+8, o.norm+Ptr(8*(1+o.chunks))
		if err := b.D.Fill32(o.done, 0, 2); err != nil {
			return err
		}
		// The EMA starts at the parameters, as optim.NewEMA's copy does.
		for i, p := range params {
			src, dst := b.arena.Add(p.Offset), o.ema.Add(int(flat[i]))
			if err := b.D.CopyOnDevice(dst, src, int64(4*p.Size())); err != nil {
				return err
			}
		}
		return nil
	})
}

// chunkTables puts on the device the tables of kernels/optim.cu's kernels
// over tensors of the given sizes: the per-tensor columns (arena offsets
// and the like, one value per tensor each), then size, then per chunk of
// chunk elements its first element (int64) and its tensor (int32). It
// returns their address and the number of chunks; tableAt finds each.
func (b *Backend) chunkTables(size []int64, columns ...[]int64) (Ptr, int, error) {
	var words []int64
	for _, c := range columns {
		words = append(words, c...)
	}
	words = append(words, size...)
	var tensor []int32
	for i, n := range size {
		for s := int64(0); s < n; s += chunk {
			tensor = append(tensor, int32(i))
			words = append(words, s)
		}
	}
	var at Ptr
	err := b.D.Do(func() (err error) {
		if at, err = b.D.Pool.Alloc(int64(8*len(words) + 4*len(tensor))); err != nil {
			return err
		}
		if err := b.D.CopyIn(at, unsafe.Pointer(&words[0]), int64(8*len(words))); err != nil {
			return err
		}
		return b.D.CopyIn(at+Ptr(8*len(words)), unsafe.Pointer(&tensor[0]), int64(4*len(tensor)))
	})
	return at, len(tensor), err
}

// tableAt returns the device addresses of chunkTables' tables at at, for
// tensors tensors, columns columns and chunks chunks: each column, size,
// chunk_tensor and chunk_start.
func tableAt(at Ptr, tensors, columns, chunks int) (cols []Ptr, size, chunkTensor, chunkStart Ptr) {
	n := Ptr(8 * tensors)
	for c := range columns {
		cols = append(cols, at+Ptr(c)*n)
	}
	size = at + Ptr(columns)*n
	chunkStart = size + n
	chunkTensor = chunkStart + Ptr(8*chunks)
	return
}

// table returns the device addresses of the per-tensor and per-chunk
// tables.
func (o *Optimizer) table() (param, grad, flat, size, chunkTensor, chunkStart Ptr) {
	cols, size, chunkTensor, chunkStart := tableAt(o.tables, len(o.sizes), 3, o.chunks)
	return cols[0], cols[1], cols[2], size, chunkTensor, chunkStart
}

// Post is the optimiser's launches, for the Post of the plan it updates.
func (o *Optimizer) Post() []func() error {
	d := o.b.D
	param, grad, flat, size, chunkTensor, chunkStart := o.table()
	arena := o.b.arena
	return []func() error{
		func() error {
			return d.Launch("norm_sq", o.chunks, Threads, o.norm, o.partial, o.done, arena, grad, size, chunkTensor, chunkStart, o.chunks)
		},
		func() error {
			return d.Launch("adam", o.chunks, Threads, arena, o.m, o.v, o.norm, o.loss, o.ctlDev, param, grad, flat, size,
				chunkTensor, chunkStart, float32(o.Beta1), float32(o.Beta2), float32(o.Eps), o.MaxNorm)
		},
		func() error {
			return d.Launch("ema", o.chunks, Threads, o.ema, arena, o.norm, o.loss, o.ctlDev, param, flat, size, chunkTensor, chunkStart)
		},
	}
}

// Next sets the values of the next update (learning rate lr), as
// optim.Adam.Update and optim.EMA.Update compute them; call it before each Run.
func (o *Optimizer) Next(lr float64) {
	o.Step++
	o.EMAUpdates++
	c1 := 1 - math.Pow(o.Beta1, float64(o.Step))
	c2 := 1 - math.Pow(o.Beta2, float64(o.Step))
	keep := math.Min(o.EMADecay, float64(1+o.EMAUpdates)/(o.EMARamp+float64(o.EMAUpdates)))
	for i, v := range []float64{lr / c1, math.Sqrt(c2), keep, 1 - keep} {
		o.ctl[i] = math.Float64bits(v)
	}
}

// Settle returns the gradient's global norm of the step just run, whose
// loss was loss. When either is not finite the kernels updated nothing, so
// Settle takes back the counts of Next, as the CPU's step never makes them.
func (o *Optimizer) Settle(loss float64) (norm float64, err error) {
	if err := o.b.D.Do(func() error { return o.b.D.CopyOut(unsafe.Pointer(&norm), o.norm, 8) }); err != nil {
		return 0, err
	}
	if !finite(loss) || !finite(norm) {
		o.Step--
		o.EMAUpdates--
	}
	return norm, nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// State is the optimiser's device state in parameter order: the moments and
// the EMA weights.
type State struct{ M, V, EMA [][]float32 }

// Read copies the optimiser's state to the host.
func (o *Optimizer) Read() (State, error) {
	s := State{M: o.split(), V: o.split(), EMA: o.split()}
	return s, o.copy(s, false)
}

// Write sets the optimiser's state (when resuming from a checkpoint).
func (o *Optimizer) Write(s State) error { return o.copy(s, true) }

func (o *Optimizer) split() [][]float32 {
	out := make([][]float32, len(o.sizes))
	for i, n := range o.sizes {
		out[i] = make([]float32, n)
	}
	return out
}

func (o *Optimizer) copy(s State, toDevice bool) error {
	return o.b.D.Do(func() error {
		for _, part := range []struct {
			dev  Ptr
			host [][]float32
		}{{o.m, s.M}, {o.v, s.V}, {o.ema, s.EMA}} {
			if len(part.host) != len(o.sizes) {
				return fmt.Errorf("gpu: optimiser state has %d tensors, want %d", len(part.host), len(o.sizes))
			}
			at := part.dev
			for i, h := range part.host {
				if len(h) != o.sizes[i] {
					return fmt.Errorf("gpu: optimiser state tensor %d has %d elements, want %d", i, len(h), o.sizes[i])
				}
				var err error
				if toDevice {
					err = o.b.D.CopyIn(at, unsafe.Pointer(&h[0]), int64(4*len(h)))
				} else {
					err = o.b.D.CopyOut(unsafe.Pointer(&h[0]), at, int64(4*len(h)))
				}
				if err != nil {
					return err
				}
				at = at.Add(len(h))
			}
		}
		return nil
	})
}
