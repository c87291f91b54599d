//go:build gpu

package gpu

import (
	"fmt"
	"unsafe"

	"github.com/scoregen/scoregen/engine"
)

// Follow is optim.Follow on the device for the state tensors of one update
// (a consistency model's target network, BatchNorm's running statistics):
// after the update's optimiser, each value moves towards its batch value by
// its momentum of the step, one launch in the plan's graph (Post). Like
// the optimiser's, it changes nothing in a step whose loss or gradient norm
// is not finite.
type Follow struct {
	o        *Optimizer
	tensors  int
	tables   Ptr
	chunks   int
	keepTake []float64 // per tensor 1 - momentum and momentum
	ctlDev   Ptr       // keepTake on the device
	sent     bool      // keepTake is on the device as it is
}

// NewFollow makes the following of values towards batches (slots of the
// plan that o updates, in pairs), after o's step.
func NewFollow(o *Optimizer, values, batches []engine.Slot) (*Follow, error) {
	if len(values) != len(batches) || len(values) == 0 {
		return nil, fmt.Errorf("gpu: following %d state tensors with %d batch values", len(values), len(batches))
	}
	var value, batch, size []int64
	for i, v := range values {
		if batches[i].Size() != v.Size() {
			return nil, fmt.Errorf("gpu: state tensor %d has %d elements, its batch value %d", i, v.Size(), batches[i].Size())
		}
		value = append(value, int64(v.Offset))
		batch = append(batch, int64(batches[i].Offset))
		size = append(size, int64(v.Size()))
	}
	f := &Follow{o: o, tensors: len(values), keepTake: make([]float64, 2*len(values))}
	var err error
	if f.tables, f.chunks, err = o.b.chunkTables(size, value, batch); err != nil {
		return nil, err
	}
	return f, o.b.D.Do(func() (err error) {
		f.ctlDev, err = o.b.D.Pool.Alloc(int64(8 * len(f.keepTake)))
		return err
	})
}

// Next sets each tensor's momentum for the next Run. The momenta are two
// words per tensor, more than the backend's per-step uniforms hold for a
// network's weights, so they go up in a copy of their own before the
// replay, and only when they change (BatchNorm's never do; a consistency
// model's mu(k) changes with N(k), a few hundred times in a run).
func (f *Follow) Next(momentum []float64) error {
	for i, m := range momentum {
		if f.keepTake[2*i] != 1-m || f.keepTake[2*i+1] != m {
			f.keepTake[2*i], f.keepTake[2*i+1] = 1-m, m
			f.sent = false
		}
	}
	if f.sent {
		return nil
	}
	d := f.o.b.D
	err := d.Do(func() error { return d.CopyIn(f.ctlDev, unsafe.Pointer(&f.keepTake[0]), int64(8*len(f.keepTake))) })
	f.sent = err == nil
	return err
}

// Post is the launch, for the Post of the plan, after the optimiser's.
func (f *Follow) Post() []func() error {
	d, o := f.o.b.D, f.o
	cols, size, chunkTensor, chunkStart := tableAt(f.tables, f.tensors, 2, f.chunks)
	return []func() error{func() error {
		return d.Launch("follow", f.chunks, Threads, o.b.arena, o.norm, o.loss, f.ctlDev, cols[0], cols[1], size, chunkTensor, chunkStart)
	}}
}
