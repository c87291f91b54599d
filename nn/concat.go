package nn

import (
	"fmt"
	"strconv"
	"strings"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/internal/par"
)

// concat stacks its inputs along the channel axis 1 (the U-Net's skip
// connections).
type concat struct {
	base
	chans []int // channels of each input
}

// Concat joins xs along axis 1; all other axes must match.
func Concat(xs ...*gorgonia.Node) (*gorgonia.Node, error) {
	if len(xs) == 0 {
		return nil, fmt.Errorf("Concat: no inputs")
	}
	shapes := make([]tensor.Shape, len(xs))
	for i, x := range xs {
		shapes[i] = x.Shape()
	}
	out := shapes[0].Clone()
	if out.Dims() < 2 {
		return nil, fmt.Errorf("Concat: shape %v has no channel axis", out)
	}
	out[1] = 0
	chans := make([]int, len(xs))
	names := make([]string, len(xs))
	for i, s := range shapes {
		if !sameOutsideChannels(s, shapes[0]) {
			return nil, fmt.Errorf("Concat: shapes %v differ outside axis 1", shapes)
		}
		chans[i] = s[1]
		names[i] = strconv.Itoa(s[1])
		out[1] += s[1]
	}
	if len(xs) == 1 {
		return xs[0], nil
	}
	// The input channel counts are in the name: concatenating (3,5) and
	// (5,3) channels give the same output shape but differ.
	name := "Concat(" + strings.Join(names, ",") + ")"
	return apply(&concat{base: newBase(name, out, xs...), chans: chans}, xs...)
}

func sameOutsideChannels(a, b tensor.Shape) bool {
	if a.Dims() != b.Dims() {
		return false
	}
	for i := range a {
		if i != 1 && a[i] != b[i] {
			return false
		}
	}
	return true
}

// channelSize is the size of one channel of x: the product of the axes after 1.
func channelSize(x tensor.Shape) int {
	p := 1
	for _, n := range x[2:] {
		p *= n
	}
	return p
}

func (o *concat) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *concat) BindCPU(c *engine.Call[float32]) func()         { return bindConcat(o, c) }
func (o *concat) bind64(c *engine.Call[float64]) func()          { return bindConcat(o, c) }

func bindConcat[T engine.Float](o *concat, c *engine.Call[T]) func() {
	out, k := c.Out.Data, len(c.In)
	s := channelSize(c.Out.Shape)
	outBlock := c.Out.Shape[1] * s // one sample of the output
	// Where each input's block of one sample lands within the output's.
	ins, size, off := make([][]T, k), make([]int, k), make([]int, k)
	at := 0
	for i, in := range c.In {
		ins[i], size[i], off[i] = in.Data, o.chans[i]*s, at
		at += size[i]
	}
	// One copy per (sample, input).
	body := func(lo, hi int) {
		for b := lo; b < hi; b++ {
			n, i := b/k, b%k
			copy(out[n*outBlock+off[i]:n*outBlock+off[i]+size[i]], ins[i][n*size[i]:(n+1)*size[i]])
		}
	}
	blocks := c.Out.Shape[0] * k
	return func() { par.For(blocks, max(1, grain*k/outBlock), body) }
}

func (o *concat) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := forgetDerivs(in); err != nil {
		return nil, err
	}
	d := make(gorgonia.Nodes, len(in))
	at := 0
	for i, ch := range o.chans {
		var err error
		if d[i], err = Split(grad, at, at+ch); err != nil {
			return nil, err
		}
		at += ch
	}
	return d, nil
}

// split is channels [from, to) of x.
type split struct {
	base
	from, to int
}

// Split returns channels [from, to) of x (axis 1).
func Split(x *gorgonia.Node, from, to int) (*gorgonia.Node, error) {
	xs := x.Shape()
	if xs.Dims() < 2 || from < 0 || to > xs[1] || from >= to {
		return nil, fmt.Errorf("Split: channels [%d,%d) are not a range within shape %v", from, to, xs)
	}
	if from == 0 && to == xs[1] {
		return x, nil
	}
	out := xs.Clone()
	out[1] = to - from
	return apply(&split{base: newBase(splitName("Split", from, to, xs[1]), out, x), from: from, to: to}, x)
}

// splitName includes x's channel count: the same range of a wider x is a
// different copy.
func splitName(op string, from, to, c int) string {
	return fmt.Sprintf("%s(%d:%d of %d)", op, from, to, c)
}

func (o *split) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *split) BindCPU(c *engine.Call[float32]) func()         { return bindSplit(o, c) }
func (o *split) bind64(c *engine.Call[float64]) func()          { return bindSplit(o, c) }

func bindSplit[T engine.Float](o *split, c *engine.Call[T]) func() {
	out, x := c.Out.Data, c.In[0].Data
	s := channelSize(c.In[0].Shape)
	inBlock, outBlock, from := c.In[0].Shape[1]*s, (o.to-o.from)*s, o.from*s
	body := func(lo, hi int) {
		for n := lo; n < hi; n++ {
			copy(out[n*outBlock:(n+1)*outBlock], x[n*inBlock+from:n*inBlock+from+outBlock])
		}
	}
	return func() { par.For(c.Out.Shape[0], max(1, grain/outBlock), body) }
}

func (o *split) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := forgetDerivs(in); err != nil {
		return nil, err
	}
	x := in[0]
	c := x.Shape()[1]
	g, err := apply(&splitGrad{gradBase: gradOf(splitName("SplitGrad", o.from, o.to, c), x.Shape(), grad), from: o.from, to: o.to}, grad)
	return gorgonia.Nodes{g}, err
}

// splitGrad places grad at channels [from, to) of a zero tensor of x's shape.
type splitGrad struct {
	gradBase
	from, to int
}

func (o *splitGrad) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *splitGrad) BindCPU(c *engine.Call[float32]) func()         { return bindSplitGrad(o, c) }
func (o *splitGrad) bind64(c *engine.Call[float64]) func()          { return bindSplitGrad(o, c) }

// SymDiff: splitGrad is linear in grad, and Split is its adjoint.
func (o *splitGrad) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := forgetDerivs(in); err != nil {
		return nil, err
	}
	g, err := Split(grad, o.from, o.to)
	return gorgonia.Nodes{g}, err
}

func bindSplitGrad[T engine.Float](o *splitGrad, c *engine.Call[T]) func() {
	dx, g := c.Out.Data, c.In[0].Data
	s := channelSize(c.Out.Shape)
	xBlock, gBlock, from := c.Out.Shape[1]*s, (o.to-o.from)*s, o.from*s
	body := func(lo, hi int) {
		for n := lo; n < hi; n++ {
			dn := dx[n*xBlock : (n+1)*xBlock]
			clear(dn)
			copy(dn[from:from+gBlock], g[n*gBlock:(n+1)*gBlock])
		}
	}
	return func() { par.For(c.Out.Shape[0], max(1, grain/xBlock), body) }
}
