package engine

import (
	"slices"

	"gorgonia.org/gorgonia"
)

// align keeps every value on a 64-byte boundary (a cache line; on a GPU,
// aligned for vector loads).
const align = 16

// alignUp rounds n elements up to the alignment.
func alignUp(n int) int { return (n + align - 1) / align * align }

// isSource reports whether n's value is set from outside rather than
// computed by the plan: an input or a constant. Written once, such a value
// must never share memory.
func isSource(n *gorgonia.Node) bool { return n.IsVar() || n.Op().Arity() == 0 }

// lifetime is a value in the arena: the nodes that share it (a node and the
// in-place ops that overwrite it in turn), the steps from its first write to
// its last read, and where it lives.
type lifetime struct {
	first, last int
	size        int
	offset      int
}

// planMemory places the value of every node that the plan computes in one
// arena; inputs and constants are placed by the caller (their slots are
// left zero). A value lives from the step that writes it to the last step
// that reads it; outputs live for the whole plan. An op that allows it writes over its
// operand when that operand is read by nothing later. Values are then
// placed largest first, each at the lowest offset that no value alive at
// the same time occupies (greedy by size, as TensorFlow Lite plans arenas).
func planMemory(nodes []*gorgonia.Node, children map[*gorgonia.Node][]*gorgonia.Node, index map[*gorgonia.Node]int, isOutput map[*gorgonia.Node]bool) ([]Slot, int) {
	end := len(nodes)
	lastUse := make([]int, len(nodes))
	for i, n := range nodes {
		lastUse[i] = i
		for _, c := range children[n] {
			lastUse[index[c]] = i
		}
	}
	for i, n := range nodes {
		if isSource(n) || isOutput[n] {
			lastUse[i] = end
		}
	}

	var lives []*lifetime
	life := make([]*lifetime, len(nodes))
	for i, n := range nodes {
		if isSource(n) {
			continue // placed by the caller, shared between plans
		}
		size := alignUp(max(n.Shape().TotalSize(), 1))
		for _, k := range inPlaceCandidates(n, children[n]) {
			c := index[children[n][k]]
			if lastUse[c] == i && life[c].size == size && countChild(children[n], children[n][k]) == 1 {
				life[i] = life[c]
				break
			}
		}
		if life[i] == nil {
			life[i] = &lifetime{first: i, size: size}
			lives = append(lives, life[i])
		}
		life[i].last = lastUse[i]
	}

	order := slices.Clone(lives)
	slices.SortStableFunc(order, func(a, b *lifetime) int { return b.size - a.size })
	var placed []*lifetime
	arena := 0
	for _, l := range order {
		var clash []*lifetime
		for _, p := range placed {
			if p.first <= l.last && l.first <= p.last {
				clash = append(clash, p)
			}
		}
		slices.SortFunc(clash, func(a, b *lifetime) int { return a.offset - b.offset })
		off := 0
		for _, p := range clash {
			if p.offset >= off+l.size {
				break // l fits in the gap below p
			}
			off = max(off, p.offset+p.size)
		}
		l.offset = off
		arena = max(arena, off+l.size)
		placed = append(placed, l)
	}

	slots := make([]Slot, len(nodes))
	for i, n := range nodes {
		if life[i] != nil {
			slots[i] = Slot{Offset: life[i].offset, Shape: n.Shape().Clone()}
		}
	}
	return slots, arena
}

// inPlaceCandidates are the operands whose memory n's op may write over.
func inPlaceCandidates(n *gorgonia.Node, children []*gorgonia.Node) []int {
	if isSource(n) {
		return nil
	}
	if isGradSum(n, children) {
		return []int{0, 1}
	}
	if op, ok := n.Op().(InPlaceOp); ok && op.InPlace() >= 0 {
		return []int{op.InPlace()}
	}
	return nil
}

func countChild(children []*gorgonia.Node, c *gorgonia.Node) int {
	k := 0
	for _, x := range children {
		if x == c {
			k++
		}
	}
	return k
}
