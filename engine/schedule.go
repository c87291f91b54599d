package engine

import "gorgonia.org/gorgonia"

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
	return sorted, children
}
