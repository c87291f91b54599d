package nn

import (
	"gorgonia.org/gorgonia"
)

// A convolution's weight gradient reads the convolution's input. Where that
// input is a cheap function of values that the backward pass keeps anyway
// (GroupNorm+SiLU of a block's input, and the dropout after it), keeping it
// from the forward pass to the backward costs a whole activation per layer;
// computing it again just before the weight gradient costs a few percent of
// a step. recompute builds that second computation. Its ops are marked
// deferred, so that the engine schedules them where they are read, not
// where their operands are ready.

// recomputable is an op whose output can be computed again from its
// operands: recomputed is a copy of it whose base is base.recomputed().
type recomputable interface {
	recomputed() op
}

// recomputed is the base of a recomputed copy of an op: named apart, so
// that gorgonia does not merge the two nodes, and deferred
// (engine.DeferredOp).
func (b base) recomputed() base {
	b.name, b.deferred = b.name+"·recomputed", true
	return b
}

// Deferred is true for a recomputed copy: the engine runs it just before
// its first reader.
func (b *base) Deferred() bool { return b.deferred }

// recompute returns a node that computes n's value again, late in the
// plan: n itself when its op is not recomputable.
func recompute(n *gorgonia.Node) (*gorgonia.Node, error) {
	r, ok := n.Op().(recomputable)
	if !ok {
		return n, nil
	}
	var in []*gorgonia.Node
	for it := n.Graph().From(n.ID()); it.Next(); {
		c, err := recompute(it.Node().(*gorgonia.Node))
		if err != nil {
			return nil, err
		}
		in = append(in, c)
	}
	return apply(r.recomputed(), in...)
}
