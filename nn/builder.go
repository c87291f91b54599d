package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Builder builds a model's graph: it creates named, initialised parameters
// and applies layers to them. It keeps the first error, prefixed with the
// name of the layer that caused it, and turns every later call into a no-op
// returning nil, so that model code reads as a plain sequence of layers and
// checks Err once at the end (as bufio.Scanner does).
type Builder struct {
	G      *gorgonia.ExprGraph
	Params []*gorgonia.Node // in creation order; names like "down.0.res.1.conv1.weight"
	// Train says whether dropout is applied; Dropout draws its masks from RNG.
	Train bool
	RNG   *RNG
	// Prefix starts every parameter's name, for a second network in the
	// same graph (gorgonia merges inputs of the same name and shape).
	Prefix string

	init    *rand.Rand
	err     error
	streams uint32
}

// NewBuilder returns a builder whose parameters are initialised from seed.
func NewBuilder(g *gorgonia.ExprGraph, seed uint64, train bool) *Builder {
	return &Builder{G: g, Train: train, RNG: &RNG{Seed: seed}, init: rand.New(rand.NewPCG(seed, 0x5eed))}
}

// Err is the first error met while building, naming its layer.
func (b *Builder) Err() error { return b.err }

// check records err (if it is the first) under the layer name and reports
// whether building may go on.
func (b *Builder) check(layer string, n *gorgonia.Node, err error) *gorgonia.Node {
	if err != nil && b.err == nil {
		b.err = fmt.Errorf("layer %s: %w", layer, err)
	}
	if b.err != nil {
		return nil
	}
	return n
}

func (b *Builder) ok(in ...*gorgonia.Node) bool {
	if b.err != nil {
		return false
	}
	for _, n := range in {
		if n == nil {
			b.err = fmt.Errorf("nn: nil input to a layer")
			return false
		}
	}
	return true
}

// Param creates a float32 input node initialised uniformly in [-bound, bound].
func (b *Builder) Param(name string, shape tensor.Shape, bound float64) *gorgonia.Node {
	if b.err != nil {
		return nil
	}
	data := make([]float32, shape.TotalSize())
	for i := range data {
		data[i] = float32((2*b.init.Float64() - 1) * bound)
	}
	p := gorgonia.NewTensor(b.G, tensor.Float32, shape.Dims(), gorgonia.WithShape(shape...), gorgonia.WithName(b.Prefix+name),
		gorgonia.WithValue(tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data))))
	b.Params = append(b.Params, p)
	return p
}

// Const creates a float32 parameter with every element set to v (GroupNorm's
// scale and shift start at 1 and 0).
func (b *Builder) Const(name string, shape tensor.Shape, v float32) *gorgonia.Node {
	p := b.Param(name, shape, 0)
	if p != nil {
		data := p.Value().Data().([]float32)
		for i := range data {
			data[i] = v
		}
	}
	return p
}

// Conv2d is a convolution with bias, initialised as PyTorch does
// (Kaiming-uniform: bound 1/sqrt(fan_in)) times initScale; DDPM++ starts the
// last convolution of each block at 1e-10.
func (b *Builder) Conv2d(name string, x *gorgonia.Node, out, kernel, stride, pad int, initScale float64) *gorgonia.Node {
	if !b.ok(x) {
		return nil
	}
	cin := x.Shape()[1]
	bound := 1 / math.Sqrt(float64(cin*kernel*kernel))
	w := b.Param(name+".weight", tensor.Shape{out, cin, kernel, kernel}, bound*initScale)
	bias := b.Param(name+".bias", tensor.Shape{out}, bound*initScale)
	y, err := Conv2d(x, w, bias, stride, pad)
	return b.check(name, y, err)
}

// Linear is a dense layer y = x W^T + b on [B, in], initialised as PyTorch does.
func (b *Builder) Linear(name string, x *gorgonia.Node, out int) *gorgonia.Node {
	if !b.ok(x) {
		return nil
	}
	in := x.Shape()[1]
	bound := 1 / math.Sqrt(float64(in))
	w := b.Param(name+".weight", tensor.Shape{out, in}, bound)
	bias := b.Param(name+".bias", tensor.Shape{out}, bound)
	y, err := Linear(x, w, bias)
	return b.check(name, y, err)
}

// GroupNorm normalises x over groups of channels, then applies the learned
// per-channel scale and shift and act (Identity or SiLU, fused).
func (b *Builder) GroupNorm(name string, x *gorgonia.Node, groups int, act Act) *gorgonia.Node {
	if !b.ok(x) {
		return nil
	}
	c := x.Shape()[1]
	gamma := b.Const(name+".weight", tensor.Shape{c}, 1)
	beta := b.Const(name+".bias", tensor.Shape{c}, 0)
	y, err := GroupNorm(x, gamma, beta, groups, 1e-6, act)
	return b.check(name, y, err)
}

// Dropout zeroes elements with probability p while training (each layer
// draws its own Philox stream) and is the identity otherwise.
func (b *Builder) Dropout(name string, x *gorgonia.Node, p float64) *gorgonia.Node {
	if !b.ok(x) || !b.Train || p == 0 {
		return x
	}
	b.streams++
	y, err := Dropout(x, p, b.streams, b.RNG)
	return b.check(name, y, err)
}

// The parameter-free layers: each records its error under the layer name.

func (b *Builder) Act(layer string, x *gorgonia.Node, act Act) *gorgonia.Node {
	if !b.ok(x) {
		return nil
	}
	y, err := Activate(x, act, 0)
	return b.check(layer, y, err)
}

func (b *Builder) Add(layer string, x, y *gorgonia.Node) *gorgonia.Node {
	return b.binary(layer, Add, x, y)
}

// Mul is x * y, broadcast as Binary does.
func (b *Builder) Mul(layer string, x, y *gorgonia.Node) *gorgonia.Node {
	return b.binary(layer, Mul, x, y)
}

func (b *Builder) binary(layer string, kind BinaryKind, x, y *gorgonia.Node) *gorgonia.Node {
	if !b.ok(x, y) {
		return nil
	}
	z, err := Binary(kind, x, y)
	return b.check(layer, z, err)
}

func (b *Builder) Scale(layer string, x *gorgonia.Node, factor float64) *gorgonia.Node {
	if !b.ok(x) {
		return nil
	}
	y, err := Scale(x, factor)
	return b.check(layer, y, err)
}

func (b *Builder) Reshape(layer string, x *gorgonia.Node, to tensor.Shape) *gorgonia.Node {
	if !b.ok(x) {
		return nil
	}
	y, err := Reshape(x, to)
	return b.check(layer, y, err)
}

func (b *Builder) Concat(layer string, xs ...*gorgonia.Node) *gorgonia.Node {
	if !b.ok(xs...) {
		return nil
	}
	y, err := Concat(xs...)
	return b.check(layer, y, err)
}

func (b *Builder) Upsample2x(layer string, x *gorgonia.Node) *gorgonia.Node {
	if !b.ok(x) {
		return nil
	}
	y, err := Upsample2x(x)
	return b.check(layer, y, err)
}

func (b *Builder) MatMul(layer string, x, y *gorgonia.Node, transX, transY bool) *gorgonia.Node {
	if !b.ok(x, y) {
		return nil
	}
	z, err := MatMul(x, y, transX, transY)
	return b.check(layer, z, err)
}

func (b *Builder) Softmax(layer string, x *gorgonia.Node) *gorgonia.Node {
	if !b.ok(x) {
		return nil
	}
	y, err := Softmax(x)
	return b.check(layer, y, err)
}

func (b *Builder) Sinusoidal(layer string, t *gorgonia.Node, dim int, scale float64) *gorgonia.Node {
	if !b.ok(t) {
		return nil
	}
	y, err := Sinusoidal(t, dim, scale)
	return b.check(layer, y, err)
}

// NumParams is the number of scalar parameters created so far.
func (b *Builder) NumParams() int {
	n := 0
	for _, p := range b.Params {
		n += p.Shape().TotalSize()
	}
	return n
}
