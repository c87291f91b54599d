// Package nn holds the operations and layers that models are built from.
//
// Every op is a gorgonia.Op (shape inference; Do runs the CPU kernel) and a
// gorgonia.SDOp whose SymDiff returns backward nodes made of other nn ops, so
// that gorgonia.Grad builds a backward graph the engine can compile. Kernels
// are written once, generic over float32 and float64: plans run float32, and
// tests check the float64 instantiation against finite differences.
//
// One op family per file, forward and backward side by side.
package nn

import (
	"fmt"
	"hash"
	"hash/fnv"
	"io"
	"reflect"
	"strconv"
	"unsafe"

	"github.com/chewxy/hm"
	"github.com/pkg/errors"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/engine"
)

// op is what every nn op implements: the gorgonia interfaces plus its kernel
// bound for each float type.
type op interface {
	gorgonia.Op
	gorgonia.SDOp
	engine.CPUOp
	bind64(c *engine.Call[float64]) func()
}

// base carries what is the same for all ops: a name that includes every
// parameter (it is the hash, so two ops with equal names must compute the
// same thing), the ranks of the inputs and the output (0 for a scalar), and
// the output shape, which the op's constructor has already checked; and
// whether the op is a recomputed copy that the engine runs late.
type base struct {
	name     string
	ranks    []int
	out      tensor.Shape
	deferred bool // a recomputed copy (recompute.go)
}

func newBase(name string, out tensor.Shape, in ...*gorgonia.Node) base {
	b := base{name: fmt.Sprintf("%s→%v", name, out), out: out}
	for _, n := range in {
		b.ranks = append(b.ranks, n.Shape().Dims())
	}
	b.ranks = append(b.ranks, out.Dims())
	return b
}

func (b *base) Arity() int { return len(b.ranks) - 1 }

func (b *base) Type() hm.Type {
	a := hm.TypeVariable('a')
	ts := make([]hm.Type, len(b.ranks))
	for i, r := range b.ranks {
		if r == 0 {
			ts[i] = a
		} else {
			ts[i] = gorgonia.TensorType{Dims: r, Of: a}
		}
	}
	return hm.NewFnType(ts...)
}

func (b *base) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) { return b.out.Clone(), nil }
func (b *base) ReturnsPtr() bool                                      { return false }
func (b *base) CallsExtern() bool                                     { return false }
func (b *base) OverwritesInput() int                                  { return -1 }
func (b *base) WriteHash(h hash.Hash)                                 { io.WriteString(h, b.name) }
func (b *base) String() string                                        { return b.name }
func (b *base) ScratchSize([]tensor.Shape) int                        { return 0 }

func (b *base) Hashcode() uint32 {
	h := fnv.New32a()
	b.WriteHash(h)
	return h.Sum32()
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func (b *base) DiffWRT(n int) []bool {
	d := make([]bool, n)
	for i := range d {
		d[i] = true
	}
	return d
}

// gradBase is embedded instead of base by ops that only appear in backward
// graphs. It keeps base's DiffWRT (every input differentiable): an op that
// declared its inputs constant would be skipped by gorgonia, silently dropping
// its share of a second derivative. Its SymDiff refuses by name; a backward op
// whose own derivative is defined overrides it.
type gradBase struct{ base }

func gradOf(name string, out tensor.Shape, in ...*gorgonia.Node) gradBase {
	return gradBase{newBase(name, out, in...)}
}

func (b *gradBase) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, errors.Errorf("nn: the gradient of %s is not defined (second derivatives through it are not supported)", b.name)
}

// derivOffset locates gorgonia.Node's unexported deriv field: the gradient an
// earlier Backpropagate left on the node. See forgetDerivs.
var derivOffset, derivFound = func() (uintptr, bool) {
	f, ok := reflect.TypeFor[gorgonia.Node]().FieldByName("deriv")
	return f.Offset, ok && f.Type == reflect.TypeFor[*gorgonia.Node]()
}()

// forgetDerivs clears the gradients that an earlier Backpropagate left on the
// inputs of a node being differentiated. Backpropagate takes a node that has
// one as already done: it neither differentiates it nor sums the new terms
// into it, so the gradient of a gradient (which passes through the nodes of
// the first pass) would silently lose every term through such a node. The
// inputs of a node are visited after the node itself, so whatever they hold
// at this point is from an earlier pass. Every SymDiff calls it first.
func forgetDerivs(in gorgonia.Nodes) error {
	for _, n := range in {
		if n.Deriv() == nil {
			continue
		}
		if !derivFound {
			return errors.Errorf("nn: %v was differentiated before, and this gorgonia version hides where its gradient is kept", n)
		}
		*(**gorgonia.Node)(unsafe.Add(unsafe.Pointer(n), derivOffset)) = nil
	}
	return nil
}

// apply adds op to the graph of its inputs.
func apply(o op, in ...*gorgonia.Node) (*gorgonia.Node, error) {
	return gorgonia.ApplyOp(o, in...)
}

// do runs o's kernel on gorgonia values: the path gorgonia's TapeMachine takes.
func do(o op, vals []gorgonia.Value) (gorgonia.Value, error) {
	if len(vals) != o.Arity() {
		return nil, errors.Errorf("%v: got %d inputs, want %d", o, len(vals), o.Arity())
	}
	shapes := make([]tensor.Shape, len(vals))
	for i, v := range vals {
		shapes[i] = v.Shape()
	}
	outShape, err := o.InferShape()
	if err != nil {
		return nil, err
	}
	switch dt := vals[0].Dtype(); dt {
	case tensor.Float32:
		return doAs(o, vals, shapes, outShape, o.BindCPU)
	case tensor.Float64:
		return doAs(o, vals, shapes, outShape, o.bind64)
	default:
		return nil, errors.Errorf("%v: unsupported dtype %v", o, dt)
	}
}

func doAs[T engine.Float](o op, vals []gorgonia.Value, shapes []tensor.Shape, outShape tensor.Shape, bind func(*engine.Call[T]) func()) (gorgonia.Value, error) {
	c := &engine.Call[T]{
		Out:     engine.Tensor[T]{Shape: outShape, Data: make([]T, max(outShape.TotalSize(), 1))},
		Scratch: make([]T, o.ScratchSize(shapes)),
	}
	for i, v := range vals {
		data, ok := valueData[T](v)
		if !ok {
			return nil, errors.Errorf("%v: input %d has dtype %v, want %v", o, i, v.Dtype(), vals[0].Dtype())
		}
		c.In = append(c.In, engine.Tensor[T]{Shape: shapes[i], Data: data})
	}
	bind(c)()
	if outShape.IsScalar() {
		switch s := any(c.Out.Data[0]).(type) {
		case float32:
			return gorgonia.NewF32(s), nil
		case float64:
			return gorgonia.NewF64(s), nil
		}
	}
	return tensor.New(tensor.WithShape(outShape...), tensor.WithBacking(c.Out.Data)), nil
}

// valueData returns the elements of a gorgonia value (a tensor or a scalar).
func valueData[T engine.Float](v gorgonia.Value) ([]T, bool) {
	switch v := v.(type) {
	case *gorgonia.F32:
		s, ok := any([]float32{float32(*v)}).([]T)
		return s, ok
	case *gorgonia.F64:
		s, ok := any([]float64{float64(*v)}).([]T)
		return s, ok
	case tensor.Tensor:
		s, ok := v.Data().([]T)
		return s, ok
	}
	return nil, false
}
