package engine

import "gorgonia.org/gorgonia"

// DeferredOp is implemented by ops that compute a value again instead of
// keeping it (nn's recomputed GroupNorm and dropout): when Deferred is
// true, the schedule runs the node just before the first node that reads
// it, so that the value lives for a moment instead of through the whole
// backward pass.
type DeferredOp interface {
	Deferred() bool
}

func isDeferred(n *gorgonia.Node) bool {
	d, ok := n.Op().(DeferredOp)
	return ok && d.Deferred()
}

// schedule lists the nodes that outputs depend on, each after its operands,
// and returns the operands (in order) of each.
//
// Among the nodes ready to run it always takes the one made ready last
// (Kahn's algorithm with a stack). In a backward pass that runs a layer's
// weight and bias gradients as soon as its output gradient exists, so
// gradients die young; an order by depth-first search from the outputs
// would keep every layer's output gradient alive until the search came back
// for that layer's weights.
func schedule(outputs []*gorgonia.Node) ([]*gorgonia.Node, map[*gorgonia.Node][]*gorgonia.Node) {
	var found []*gorgonia.Node
	children := map[*gorgonia.Node][]*gorgonia.Node{}
	var visit func(n *gorgonia.Node)
	visit = func(n *gorgonia.Node) {
		if _, seen := children[n]; seen {
			return
		}
		ch := []*gorgonia.Node{}
		for it := n.Graph().From(n.ID()); it.Next(); {
			ch = append(ch, it.Node().(*gorgonia.Node))
		}
		children[n] = ch
		for _, c := range ch {
			visit(c)
		}
		found = append(found, n)
	}
	for _, n := range outputs {
		visit(n)
	}

	// waiting counts each node's operands not yet run (an operand used twice
	// counts twice); readers lists each node's readers in found order.
	waiting := map[*gorgonia.Node]int{}
	readers := map[*gorgonia.Node][]*gorgonia.Node{}
	var ready []*gorgonia.Node
	for _, n := range found {
		waiting[n] = len(children[n])
		for _, c := range children[n] {
			readers[c] = append(readers[c], n)
		}
	}
	for i := len(found) - 1; i >= 0; i-- {
		if waiting[found[i]] == 0 {
			ready = append(ready, found[i])
		}
	}
	sorted := make([]*gorgonia.Node, 0, len(found))
	for len(ready) > 0 {
		n := ready[len(ready)-1]
		ready = ready[:len(ready)-1]
		sorted = append(sorted, n)
		rs := readers[n]
		for i := len(rs) - 1; i >= 0; i-- {
			if waiting[rs[i]]--; waiting[rs[i]] == 0 {
				ready = append(ready, rs[i])
			}
		}
	}
	return deferLate(sorted, children), children
}

// deferLate moves each deferred node (and the deferred nodes it reads)
// to just before the first node that reads it. The other nodes keep their
// order, so every operand still runs before its readers: a deferred node's
// operands ran before it, and it ran before its readers.
func deferLate(sorted []*gorgonia.Node, children map[*gorgonia.Node][]*gorgonia.Node) []*gorgonia.Node {
	out := make([]*gorgonia.Node, 0, len(sorted))
	placed := map[*gorgonia.Node]bool{}
	var place func(n *gorgonia.Node)
	place = func(n *gorgonia.Node) {
		if placed[n] {
			return
		}
		for _, c := range children[n] {
			if isDeferred(c) {
				place(c)
			}
		}
		placed[n] = true
		out = append(out, n)
	}
	for _, n := range sorted {
		if !isDeferred(n) {
			place(n)
		}
	}
	for _, n := range sorted { // deferred nodes that nothing reads: outputs
		place(n)
	}
	return out
}
