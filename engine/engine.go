// Package engine compiles a gorgonia graph into a Plan that runs it on a
// backend without allocating: nodes in dependency order, buffers planned by
// liveness and reused (in place where an op allows it), each node bound to
// its backend kernel once.
//
// The engine accepts graph inputs, constants, ops that a backend has kernels
// for (the nn ops), and the element-wise Add that gorgonia.Backpropagate
// inserts to sum gradients; anything else is a compile error naming the op.
package engine

import (
	"fmt"
	"reflect"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Slot is where a node's value lives in a plan: an offset (in float32
// elements) into the plan's arena, and its shape.
type Slot struct {
	Offset int
	Shape  tensor.Shape
}

// Size is the number of elements of the slot's value (1 for a scalar).
func (s Slot) Size() int { return max(s.Shape.TotalSize(), 1) }

// GradSum is the element-wise sum of two same-shaped gradients, as inserted
// by gorgonia.Backpropagate; Compile hands it to Backend.Bind in place of
// gorgonia's own Add.
type GradSum struct{}

func (GradSum) String() string { return "GradSum" }

// Backend runs plans: it owns their buffers and has a kernel for each op.
type Backend interface {
	// ScratchSize is the scratch, in float32 elements, that op needs on
	// this backend for inputs of these shapes.
	ScratchSize(op any, in []tensor.Shape) int
	// Alloc makes the plan's arena of n float32 elements, where every
	// node's value lives at its slot's offset, and a scratch area that
	// kernels share, since they run one at a time.
	Alloc(n, scratch int) error
	// Bind returns a function that runs op (an engine.CPUOp, a GradSum, or
	// whatever else the backend knows) from the in slots into out. It is
	// called once per node after Alloc; the function runs every step.
	Bind(op any, out Slot, in []Slot) (func() error, error)
	// Write copies src into the arena at off; Read copies from it into dst.
	Write(off int, src []float32) error
	Read(off int, dst []float32) error
}

// Plan is a compiled graph bound to a backend.
type Plan struct {
	backend Backend
	steps   []func() error
	slots   map[*gorgonia.Node]Slot
	bytes   int64
}

// Runner is implemented by backends that run a plan's steps themselves (the
// CUDA backend records them once into a graph and replays it).
type Runner interface {
	Run(steps []func() error) error
}

// Run executes every node of the plan once, in order.
func (p *Plan) Run() error {
	if r, ok := p.backend.(Runner); ok {
		return r.Run(p.steps)
	}
	for _, s := range p.steps {
		if err := s(); err != nil {
			return err
		}
	}
	return nil
}

// Bytes is the memory the plan's buffers and scratch take on the backend.
func (p *Plan) Bytes() int64 { return p.bytes }

func (p *Plan) slot(n *gorgonia.Node, size int) (Slot, error) {
	s, ok := p.slots[n]
	if !ok {
		return s, fmt.Errorf("engine: node %q is not an input or output of the plan", n.Name())
	}
	if size != s.Size() {
		return s, fmt.Errorf("engine: node %q has %d elements (shape %v), got %d", n.Name(), s.Size(), s.Shape, size)
	}
	return s, nil
}

// Slot is where the value of an input or output node lives, for backends
// that give direct access (CPU.View).
func (p *Plan) Slot(n *gorgonia.Node) (Slot, bool) {
	s, ok := p.slots[n]
	return s, ok
}

// Write sets the value of an input node (a parameter or data).
func (p *Plan) Write(n *gorgonia.Node, src []float32) error {
	if !n.IsVar() {
		return fmt.Errorf("engine: node %q is not an input", n.Name())
	}
	s, err := p.slot(n, len(src))
	if err != nil {
		return err
	}
	return p.backend.Write(s.Offset, src)
}

// Read copies the current value of an input or output node into dst.
func (p *Plan) Read(n *gorgonia.Node, dst []float32) error {
	s, err := p.slot(n, len(dst))
	if err != nil {
		return err
	}
	return p.backend.Read(s.Offset, dst)
}

// gorgoniaAdd is the op type of gorgonia's Add, recognised in gradient sums.
var gorgoniaAdd = func() gorgonia.Op {
	g := gorgonia.NewGraph()
	a := gorgonia.NewVector(g, tensor.Float32, gorgonia.WithShape(2), gorgonia.WithName("a"))
	b := gorgonia.NewVector(g, tensor.Float32, gorgonia.WithShape(2), gorgonia.WithName("b"))
	return gorgonia.Must(gorgonia.Add(a, b)).Op()
}()

func isGradSum(n *gorgonia.Node, ch []*gorgonia.Node) bool {
	op := n.Op()
	return reflect.TypeOf(op) == reflect.TypeOf(gorgoniaAdd) && op.String() == gorgoniaAdd.String() &&
		len(ch) == 2 && ch[0].Shape().Eq(n.Shape()) && ch[1].Shape().Eq(n.Shape())
}

// layout is a graph scheduled and placed in an arena: the nodes in run
// order, each one's operands, and where each value lives.
type layout struct {
	nodes          []*gorgonia.Node
	children       map[*gorgonia.Node][]*gorgonia.Node
	index          map[*gorgonia.Node]int
	isOutput       map[*gorgonia.Node]bool
	slots          []Slot
	arena, scratch int // float32 elements
}

// bytes is the memory the layout's buffers and scratch take.
func (l *layout) bytes() int64 { return 4 * (int64(l.arena) + int64(l.scratch)) }

// plan schedules the graph that computes outputs and places its values,
// asking backend only for scratch sizes: it allocates nothing on it.
func plan(outputs []*gorgonia.Node, backend Backend) (*layout, error) {
	l := &layout{index: map[*gorgonia.Node]int{}, isOutput: map[*gorgonia.Node]bool{}}
	l.nodes, l.children = schedule(outputs)
	for i, n := range l.nodes {
		l.index[n] = i
		if n.Dtype() != tensor.Float32 {
			return nil, fmt.Errorf("engine: node %q has dtype %v; plans run float32", n.Name(), n.Dtype())
		}
	}
	for _, n := range outputs {
		l.isOutput[n] = true
	}
	l.slots, l.arena = planMemory(l.nodes, l.children, l.index, l.isOutput)
	for _, n := range l.nodes {
		if !isSource(n) {
			l.scratch = max(l.scratch, backend.ScratchSize(n.Op(), shapes(l.children[n])))
		}
	}
	return l, nil
}

// PlanBytes is what Plan.Bytes would be for the plan that Compile makes of
// outputs on backend, found without allocating anything, so that a caller
// can check that the plan fits before compiling it.
func PlanBytes(outputs []*gorgonia.Node, backend Backend) (int64, error) {
	l, err := plan(outputs, backend)
	if err != nil {
		return 0, err
	}
	return l.bytes(), nil
}

// Compile plans the graph that computes outputs and binds it to backend.
// Inputs and constants keep their bound values (if any) as initial values.
func Compile(outputs []*gorgonia.Node, backend Backend) (*Plan, error) {
	l, err := plan(outputs, backend)
	if err != nil {
		return nil, err
	}
	if err := backend.Alloc(l.arena, l.scratch); err != nil {
		return nil, err
	}
	p := &Plan{backend: backend, slots: map[*gorgonia.Node]Slot{}, bytes: l.bytes()}
	for i, n := range l.nodes {
		if l.isOutput[n] || isSource(n) {
			p.slots[n] = l.slots[i]
		}
		if isSource(n) {
			if err := writeValue(p, n, l.slots[i]); err != nil {
				return nil, err
			}
			continue
		}
		var op any = n.Op()
		if isGradSum(n, l.children[n]) {
			op = GradSum{}
		}
		in := make([]Slot, len(l.children[n]))
		for k, c := range l.children[n] {
			in[k] = l.slots[l.index[c]]
		}
		step, err := backend.Bind(op, l.slots[i], in)
		if err != nil {
			return nil, fmt.Errorf("engine: node %q: %w", n.Name(), err)
		}
		p.steps = append(p.steps, step)
	}
	return p, nil
}

func shapes(nodes []*gorgonia.Node) []tensor.Shape {
	s := make([]tensor.Shape, len(nodes))
	for i, c := range nodes {
		s[i] = c.Shape()
	}
	return s
}

// writeValue copies a node's bound value (an input's initial value or a
// constant) into its buffer.
func writeValue(p *Plan, n *gorgonia.Node, s Slot) error {
	v := n.Value()
	if v == nil && !n.IsVar() {
		var err error
		if v, err = n.Op().Do(); err != nil {
			return fmt.Errorf("engine: constant %q: %w", n.Name(), err)
		}
	}
	switch v := v.(type) {
	case nil:
		return nil
	case *gorgonia.F32:
		return p.backend.Write(s.Offset, []float32{float32(*v)})
	case tensor.Tensor:
		d, ok := v.Data().([]float32)
		if !ok || len(d) != s.Size() {
			return fmt.Errorf("engine: node %q: value %v of shape %v does not fit %v float32", n.Name(), v.Dtype(), v.Shape(), s.Shape)
		}
		return p.backend.Write(s.Offset, d)
	default:
		return fmt.Errorf("engine: node %q: unsupported value %T", n.Name(), v)
	}
}
