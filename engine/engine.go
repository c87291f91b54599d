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
	// Pre and Post run before and after the plan's nodes each time it
	// runs: work of the backend's own that belongs to the step (the CUDA
	// backend's fused noising before a training step, the optimiser
	// after). Set them before the first Run.
	Pre, Post []func() error

	backend Backend
	steps   []func() error
	all     []func() error // Pre, steps, Post: fixed at the first Run
	slots   map[*gorgonia.Node]Slot
	bytes   int64
}

// Runner is implemented by backends that run a plan's steps themselves (the
// CUDA backend records them once into a graph per plan and replays it).
type Runner interface {
	// Run runs steps, which are all of plan p's work and the same at
	// every call for the same p.
	Run(p *Plan, steps []func() error) error
}

// Run executes Pre, every node of the plan in order, and Post, once.
func (p *Plan) Run() error {
	if p.all == nil {
		p.all = append(append(append([]func() error{}, p.Pre...), p.steps...), p.Post...)
	}
	if r, ok := p.backend.(Runner); ok {
		return r.Run(p, p.all)
	}
	for _, s := range p.all {
		if err := s(); err != nil {
			return err
		}
	}
	return nil
}

// Bytes is the memory the plan's buffers and scratch take on the backend,
// with those of the plans compiled with it (CompileShared).
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
	nodes    []*gorgonia.Node
	children map[*gorgonia.Node][]*gorgonia.Node
	index    map[*gorgonia.Node]int
	isOutput map[*gorgonia.Node]bool
	slots    []Slot
}

// arenaLayout is the layouts of plans compiled together: their inputs and
// constants placed once, at the start of the arena, then each plan's
// computed values in a region of its own.
type arenaLayout struct {
	plans          []*layout
	arena, scratch int // float32 elements
}

// bytes is the memory the layouts' buffers and scratch take.
func (a *arenaLayout) bytes() int64 { return 4 * (int64(a.arena) + int64(a.scratch)) }

// plan schedules the graphs that compute each set of outputs and places
// their values, asking backend only for scratch sizes: it allocates
// nothing on it.
func plan(outputs []gorgonia.Nodes, backend Backend) (*arenaLayout, error) {
	a := &arenaLayout{}
	shared := map[*gorgonia.Node]Slot{}
	for _, outs := range outputs {
		l := &layout{index: map[*gorgonia.Node]int{}, isOutput: map[*gorgonia.Node]bool{}}
		l.nodes, l.children = schedule(outs)
		for i, n := range l.nodes {
			l.index[n] = i
			if n.Dtype() != tensor.Float32 {
				return nil, fmt.Errorf("engine: node %q has dtype %v; plans run float32", n.Name(), n.Dtype())
			}
			if _, ok := shared[n]; isSource(n) && !ok {
				shared[n] = Slot{Offset: a.arena, Shape: n.Shape().Clone()}
				a.arena += alignUp(shared[n].Size())
			}
			if !isSource(n) {
				a.scratch = max(a.scratch, backend.ScratchSize(n.Op(), shapes(l.children[n])))
			}
		}
		for _, n := range outs {
			l.isOutput[n] = true
		}
		a.plans = append(a.plans, l)
	}
	for _, l := range a.plans {
		var size int
		l.slots, size = planMemory(l.nodes, l.children, l.index, l.isOutput)
		for i, n := range l.nodes {
			if s, ok := shared[n]; ok {
				l.slots[i] = s
			} else {
				l.slots[i].Offset += a.arena
			}
		}
		a.arena += size
	}
	return a, nil
}

// PlanBytes is what Plan.Bytes would be for the plans that CompileShared
// makes of outputs on backend, found without allocating anything, so that
// a caller can check that the plans fit before compiling them.
func PlanBytes(backend Backend, outputs ...gorgonia.Nodes) (int64, error) {
	a, err := plan(outputs, backend)
	if err != nil {
		return 0, err
	}
	return a.bytes(), nil
}

// Compile plans the graph that computes outputs and binds it to backend.
// Inputs and constants keep their bound values (if any) as initial values.
func Compile(outputs []*gorgonia.Node, backend Backend) (*Plan, error) {
	plans, err := CompileShared(backend, outputs)
	if err != nil {
		return nil, err
	}
	return plans[0], nil
}

// CompileShared compiles one plan per set of outputs, all on backend, which
// it allocates once. The plans share their inputs and constants: a
// parameter written through one plan, or updated in place in its memory,
// is what the others read, with no copy (a GAN's two updates each run both
// networks). Each plan's computed values have memory of their own, so one
// plan's outputs stay readable after another runs. Inputs and constants
// keep their bound values (if any) as initial values.
func CompileShared(backend Backend, outputs ...gorgonia.Nodes) ([]*Plan, error) {
	a, err := plan(outputs, backend)
	if err != nil {
		return nil, err
	}
	if err := backend.Alloc(a.arena, a.scratch); err != nil {
		return nil, err
	}
	written := map[*gorgonia.Node]bool{}
	plans := make([]*Plan, len(a.plans))
	for k, l := range a.plans {
		p := &Plan{backend: backend, slots: map[*gorgonia.Node]Slot{}, bytes: a.bytes()}
		for i, n := range l.nodes {
			if l.isOutput[n] || isSource(n) {
				p.slots[n] = l.slots[i]
			}
			if isSource(n) {
				if !written[n] {
					if err := writeValue(p, n, l.slots[i]); err != nil {
						return nil, err
					}
					written[n] = true
				}
				continue
			}
			var op any = n.Op()
			if isGradSum(n, l.children[n]) {
				op = GradSum{}
			}
			in := make([]Slot, len(l.children[n]))
			for j, c := range l.children[n] {
				in[j] = l.slots[l.index[c]]
			}
			step, err := backend.Bind(op, l.slots[i], in)
			if err != nil {
				return nil, fmt.Errorf("engine: node %q: %w", n.Name(), err)
			}
			p.steps = append(p.steps, step)
		}
		plans[k] = p
	}
	return plans, nil
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
