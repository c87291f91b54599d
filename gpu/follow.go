//go:build gpu

package gpu

import (
	"fmt"
	"math"

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
	keepTake []uint64 // per tensor 1 - momentum and momentum (float64 bits)
	ctlDev   Ptr
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
	f := &Follow{o: o, tensors: len(values), keepTake: make([]uint64, 2*len(values))}
	var err error
	if f.ctlDev, err = o.b.UniformBlock(f.keepTake); err != nil {
		return nil, err
	}
	f.tables, f.chunks, err = o.b.chunkTables(size, value, batch)
	return f, err
}

// Next sets each tensor's momentum for the next Run.
func (f *Follow) Next(momentum []float64) {
	for i, m := range momentum {
		f.keepTake[2*i], f.keepTake[2*i+1] = math.Float64bits(1-m), math.Float64bits(m)
	}
}

// Post is the launch, for the Post of the plan, after the optimiser's.
func (f *Follow) Post() []func() error {
	d, o := f.o.b.D, f.o
	cols, size, chunkTensor, chunkStart := tableAt(f.tables, f.tensors, 2, f.chunks)
	return []func() error{func() error {
		return d.Launch("follow", f.chunks, Threads, o.b.arena, o.norm, o.loss, f.ctlDev, cols[0], cols[1], size, chunkTensor, chunkStart)
	}}
}
