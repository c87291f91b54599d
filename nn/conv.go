package nn

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/internal/par"
)

// A 2-D convolution is a matrix product. im2col copies every receptive field
// of the input into a column of a matrix col [Cin*KH*KW, Hout*Wout]; the
// output is then weight [Cout, Cin*KH*KW] x col. The kernels below do this for
// a chunk of images at a time (col [Cin*KH*KW, nimg*Hout*Wout]), so that the
// scratch stays bounded whatever the batch size; the GPU's launchers use
// chunks of many images, each one large GEMM.

// maxConvScratch bounds the scratch of one convolution call, in elements,
// unless a single image needs more. 2M float32s (8 MB) keep a chunk in L3;
// on the 2-core benchmark, chunks four times larger were 5-20% slower. It is
// a variable so that tests can force a batch into several chunks.
//
// These kernels serve the float64 instantiation (tests) and, with
// UseConvLibrary(ConvIm2col), float32; float32 plans use oneDNN (dnnl.go).
//
// OpenBLAS rounds a column of a product differently with the product's
// width, so an image's output depends on the other images of its chunk:
// with Call.BatchInvariant (sampling plans) the forward convolution runs one
// image per GEMM instead, and a sample does not depend on its batch size.
// Training keeps the chunks: one image per GEMM was about 20% slower at
// mnist b128 (2 cores, two runs each alternating: 8.3 and 9.6 images/s
// against 6.9 and 7.2).
var maxConvScratch = 2 << 20

// convGeom is everything about a convolution that follows from the input and
// weight shapes, the stride and the padding.
type convGeom struct {
	n, c, h, w  int // input [N, Cin, H, W]
	k, kh, kw   int // weight [Cout, Cin, KH, KW]
	oh, ow      int // output spatial size
	stride, pad int
	chunk       int // images per chunk
}

func newConvGeom(x, w tensor.Shape, stride, pad int) convGeom {
	return convGeomWithin(x, w, stride, pad, maxConvScratch)
}

// convGeomWithin is the geometry with chunks of at most maxScratch
// elements of scratch (or one image, if that needs more).
func convGeomWithin(x, w tensor.Shape, stride, pad, maxScratch int) convGeom {
	g := convGeom{
		n: x[0], c: x[1], h: x[2], w: x[3],
		k: w[0], kh: w[2], kw: w[3],
		stride: stride, pad: pad,
	}
	g.oh = (g.h+2*pad-g.kh)/stride + 1
	g.ow = (g.w+2*pad-g.kw)/stride + 1
	// A chunk holds its column matrix [Cin*KH*KW, cols] and the
	// [Cout, cols] matrix on the other side of the GEMM.
	perImage := (g.kdim() + g.k) * g.ohw()
	g.chunk = max(1, min(g.n, maxScratch/max(perImage, 1)))
	return g
}

func (g *convGeom) kdim() int { return g.c * g.kh * g.kw }
func (g *convGeom) ohw() int  { return g.oh * g.ow }

// pointwise is a 1x1, stride 1, unpadded convolution: each image x[n] is
// already the column matrix [Cin, H*W], so there is no im2col.
func (g *convGeom) pointwise() bool {
	return g.kh == 1 && g.kw == 1 && g.stride == 1 && g.pad == 0
}

// planScratch is the scratch a plan reserves for the convolution: none
// where its float32 kernels run on oneDNN, whose buffers are its own.
func (g *convGeom) planScratch() int {
	if convLibrary == ConvOneDNN {
		return 0
	}
	return g.scratch()
}

// scratchFor is the plan's scratch if it holds n elements, else n of the
// kernel's own: the float64 kernels (tests), and float32 ones that oneDNN
// refused, run im2col where the plan reserved nothing.
func scratchFor[T engine.Float](plan []T, n int) []T {
	if len(plan) >= n {
		return plan
	}
	return make([]T, n)
}

func (g *convGeom) scratch() int {
	if g.pointwise() {
		return 0
	}
	return (g.kdim() + g.k) * g.chunk * g.ohw()
}

// validCols is the range [lo, hi) of output columns whose input column
// ow*stride - pad + kx lies inside the image; the rest read padding.
func (g *convGeom) validCols(kx int) (lo, hi int) {
	for lo < g.ow && lo*g.stride-g.pad+kx < 0 {
		lo++
	}
	hi = lo
	for hi < g.ow && hi*g.stride-g.pad+kx < g.w {
		hi++
	}
	return lo, hi
}

// convChunk holds the loops shared by the three convolution kernels, for
// the chunk of images [n0, n0+nb). Its methods are bodies for par.For;
// n0 and nb are set by the caller between chunks.
type convChunk[T engine.Float] struct {
	g      convGeom
	n0, nb int
	lo, hi []int // validCols for each kernel column
}

func newConvChunk[T engine.Float](g convGeom) *convChunk[T] {
	cc := &convChunk[T]{g: g, lo: make([]int, g.kw), hi: make([]int, g.kw)}
	for kx := range g.kw {
		cc.lo[kx], cc.hi[kx] = g.validCols(kx)
	}
	return cc
}

// cols is the number of columns of the current chunk's matrices.
func (cc *convChunk[T]) cols() int { return cc.nb * cc.g.ohw() }

// unitGrain is the par.For grain for units of one output plane each.
func (g *convGeom) unitGrain() int { return max(1, grain/max(g.ohw(), 1)) }

// im2col fills col [Cin*KH*KW, cols] from x for units [lo, hi) of
// (row, image) pairs: each unit is one image's part of one row.
func (cc *convChunk[T]) im2col(col, x []T, lo, hi int) {
	// Locals rather than cc.g fields: the compiler would reload fields
	// after every store into col.
	g, n0, nb := cc.g, cc.n0, cc.nb
	s, p, cols, ohw, plane := g.stride, g.pad, cc.cols(), g.ohw(), g.h*g.w
	for u := lo; u < hi; u++ {
		r, img := u/nb, u%nb
		ci, ky, kx := r/(g.kh*g.kw), r/g.kw%g.kh, r%g.kw
		src := x[((n0+img)*g.c+ci)*plane:][:plane]
		dst := col[r*cols+img*ohw:][:ohw]
		l, h := cc.lo[kx], cc.hi[kx]
		for oy := range g.oh {
			d := dst[oy*g.ow : (oy+1)*g.ow]
			iy := oy*s - p + ky
			if iy < 0 || iy >= g.h {
				clear(d)
				continue
			}
			row := src[iy*g.w+l*s+kx-p:] // row[i*s] goes to d[l+i]
			clear(d[:l])
			if s == 1 {
				copy(d[l:h], row)
			} else {
				for i := range d[l:h] {
					d[l+i] = row[i*s]
				}
			}
			clear(d[h:])
		}
	}
}

// col2im overwrites dx for units [lo, hi) of (image, channel) pairs with
// the sum of the entries of dcol that im2col would have copied from them.
// A unit owns its input plane, so units never race.
func (cc *convChunk[T]) col2im(dx, dcol []T, lo, hi int) {
	g, n0 := cc.g, cc.n0
	s, p, cols, ohw, plane := g.stride, g.pad, cc.cols(), g.ohw(), g.h*g.w
	for u := lo; u < hi; u++ {
		img, ci := u/g.c, u%g.c
		dst := dx[((n0+img)*g.c+ci)*plane:][:plane]
		clear(dst)
		for ky := range g.kh {
			for kx := range g.kw {
				r := (ci*g.kh+ky)*g.kw + kx
				src := dcol[r*cols+img*ohw:][:ohw]
				l, h := cc.lo[kx], cc.hi[kx]
				for oy := range g.oh {
					iy := oy*s - p + ky
					if iy < 0 || iy >= g.h {
						continue
					}
					v := src[oy*g.ow+l : oy*g.ow+h]
					row := dst[iy*g.w+kx-p+l*s:] // row[i*s] takes v[i]
					if s == 1 {
						// Equal lengths let the compiler drop the bounds checks.
						row = row[:len(v)]
						for i, e := range v {
							row[i] += e
						}
						continue
					}
					for i, e := range v {
						row[i*s] += e
					}
				}
			}
		}
	}
}

// gather copies the chunk's output-shaped tensor y [nb, Cout, ohw] into
// ycol [Cout, cols], for units [lo, hi) of (channel, image) pairs.
func (cc *convChunk[T]) gather(ycol, y []T, lo, hi int) {
	g := &cc.g
	cols, ohw := cc.cols(), g.ohw()
	for u := lo; u < hi; u++ {
		k, img := u/cc.nb, u%cc.nb
		copy(ycol[k*cols+img*ohw:][:ohw], y[((cc.n0+img)*g.k+k)*ohw:][:ohw])
	}
}

// scatter is the inverse of gather, adding bias[k] (when there is a bias)
// on the way.
func (cc *convChunk[T]) scatter(y, ycol, bias []T, lo, hi int) {
	g := &cc.g
	cols, ohw := cc.cols(), g.ohw()
	for u := lo; u < hi; u++ {
		k, img := u/cc.nb, u%cc.nb
		d, s := y[((cc.n0+img)*g.k+k)*ohw:][:ohw], ycol[k*cols+img*ohw:][:ohw]
		if bias == nil {
			copy(d, s)
			continue
		}
		b := bias[k]
		for i := range d {
			d[i] = s[i] + b
		}
	}
}

// conv2d is y = conv(x, w) + b, NCHW, with the same stride and zero padding
// on both spatial axes.
type conv2d struct {
	base
	stride, pad int
}

// Conv2d convolves x [N,Cin,H,W] with w [Cout,Cin,KH,KW] and adds b [Cout]
// (b may be nil). The output is [N, Cout, (H+2*pad-KH)/stride+1,
// (W+2*pad-KW)/stride+1].
func Conv2d(x, w, b *gorgonia.Node, stride, pad int) (*gorgonia.Node, error) {
	xs, ws := x.Shape(), w.Shape()
	switch {
	case xs.Dims() != 4:
		return nil, fmt.Errorf("Conv2d: input %v is not 4-D [N,C,H,W]", xs)
	case ws.Dims() != 4:
		return nil, fmt.Errorf("Conv2d: weight %v is not 4-D [Cout,Cin,KH,KW]", ws)
	case stride < 1 || pad < 0:
		return nil, fmt.Errorf("Conv2d: stride %d and pad %d: want stride >= 1, pad >= 0", stride, pad)
	case xs[1] != ws[1]:
		return nil, fmt.Errorf("Conv2d: input %v has %d channels, weight %v expects %d", xs, xs[1], ws, ws[1])
	case xs[2]+2*pad < ws[2] || xs[3]+2*pad < ws[3]:
		return nil, fmt.Errorf("Conv2d: input %v padded by %d is smaller than the kernel of weight %v", xs, pad, ws)
	}
	in := []*gorgonia.Node{x, w}
	if b != nil {
		if bs := b.Shape(); bs.Dims() != 1 || bs[0] != ws[0] {
			return nil, fmt.Errorf("Conv2d: bias %v does not match the %d output channels of weight %v", bs, ws[0], ws)
		}
		in = append(in, b)
	}
	g := newConvGeom(xs, ws, stride, pad)
	out := tensor.Shape{g.n, g.k, g.oh, g.ow}
	return apply(&conv2d{base: newBase(convName("Conv2d", stride, pad), out, in...), stride: stride, pad: pad}, in...)
}

func convName(op string, stride, pad int) string {
	return fmt.Sprintf("%s(stride=%d,pad=%d)", op, stride, pad)
}

func (o *conv2d) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *conv2d) BindCPU(c *engine.Call[float32]) func()         { return bindConv2d(o, c) }
func (o *conv2d) bind64(c *engine.Call[float64]) func()          { return bindConv2d(o, c) }

func (o *conv2d) ScratchSize(in []tensor.Shape) int {
	g := newConvGeom(in[0], in[1], o.stride, o.pad)
	return g.planScratch()
}

// convFlops is the multiply-adds of a convolution of geometry g, twice:
// the same for its forward pass and for each of its two gradients.
func convFlops(g convGeom) float64 { return 2 * float64(g.n*g.k*g.ohw()*g.kdim()) }

func (o *conv2d) Flops(in []tensor.Shape) float64 {
	return convFlops(newConvGeom(in[0], in[1], o.stride, o.pad))
}
func (o *conv2dInputGrad) Flops(in []tensor.Shape) float64 {
	return convFlops(newConvGeom(o.out, in[1], o.stride, o.pad))
}
func (o *conv2dWeightGrad) Flops(in []tensor.Shape) float64 {
	return convFlops(newConvGeom(in[0], o.out, o.stride, o.pad))
}

func (o *conv2d) Library(bf16 bool) string           { return convLibraryFor(bf16) }
func (o *conv2dInputGrad) Library(bf16 bool) string  { return convLibraryFor(bf16) }
func (o *conv2dWeightGrad) Library(bf16 bool) string { return convLibraryFor(bf16) }

func bindConv2d[T engine.Float](o *conv2d, c *engine.Call[T]) func() {
	g := newConvGeom(c.In[0].Shape, c.In[1].Shape, o.stride, o.pad)
	if run := dnnlKernel(dnnlForward, g, c); run != nil {
		return run
	}
	if c.BatchInvariant {
		g.chunk = 1
	}
	y, x, w := c.Out.Data, c.In[0].Data, c.In[1].Data
	var bias []T
	if len(c.In) == 3 {
		bias = c.In[2].Data
	}
	kdim, ohw, planes := g.kdim(), g.ohw(), g.n*g.k

	if g.pointwise() {
		// Fill each output plane with its bias, then y[n] += w x[n].
		fill := func(lo, hi int) {
			for p := lo; p < hi; p++ {
				d := y[p*ohw : (p+1)*ohw]
				if bias == nil {
					clear(d)
					continue
				}
				b := bias[p%g.k]
				for i := range d {
					d[i] = b
				}
			}
		}
		return func() {
			par.For(planes, g.unitGrain(), fill)
			for n := range g.n {
				gemm(false, false, g.k, ohw, g.c, 1, w, g.c, x[n*g.c*ohw:], ohw, 1, y[n*g.k*ohw:], ohw)
			}
		}
	}

	cc := newConvChunk[T](g)
	scratch := scratchFor(c.Scratch, g.scratch())
	col := scratch[:kdim*g.chunk*ohw]
	ycol := scratch[kdim*g.chunk*ohw:]
	im2col := func(lo, hi int) { cc.im2col(col, x, lo, hi) }
	scatter := func(lo, hi int) { cc.scatter(y, ycol, bias, lo, hi) }
	return func() {
		for cc.n0 = 0; cc.n0 < g.n; cc.n0 += g.chunk {
			cc.nb = min(g.chunk, g.n-cc.n0)
			cols := cc.cols()
			par.For(kdim*cc.nb, g.unitGrain(), im2col)
			gemm(false, false, g.k, cols, kdim, 1, w, kdim, col, cols, 0, ycol, cols)
			par.For(g.k*cc.nb, g.unitGrain(), scatter)
		}
	}
}

func (o *conv2d) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := forgetDerivs(in); err != nil {
		return nil, err
	}
	x, w := in[0], in[1]
	dx, err := convInputGrad(grad, w, x.Shape(), o.stride, o.pad)
	if err != nil {
		return nil, err
	}
	// The weight gradient reads x computed again where x is cheap to
	// recompute, so that x need not live through the backward pass.
	rx, err := recompute(x)
	if err != nil {
		return nil, err
	}
	dw, err := convWeightGrad(rx, grad, w.Shape(), o.stride, o.pad)
	if err != nil {
		return nil, err
	}
	if len(in) == 2 {
		return gorgonia.Nodes{dx, dw}, nil
	}
	db, err := biasGrad(grad)
	return gorgonia.Nodes{dx, dw, db}, err
}

// convInputGrad is the adjoint of the convolution in its input: the dx of
// shape xs that a convolution of stride and pad with weight w sends back
// from dy.
func convInputGrad(dy, w *gorgonia.Node, xs tensor.Shape, stride, pad int) (*gorgonia.Node, error) {
	return apply(&conv2dInputGrad{gradBase: gradOf(convName("Conv2dInputGrad", stride, pad), xs, dy, w), stride: stride, pad: pad}, dy, w)
}

// convWeightGrad is the adjoint of the convolution in its weight: the dw
// of shape ws from the input x and dy.
func convWeightGrad(x, dy *gorgonia.Node, ws tensor.Shape, stride, pad int) (*gorgonia.Node, error) {
	return apply(&conv2dWeightGrad{gradBase: gradOf(convName("Conv2dWeightGrad", stride, pad), ws, x, dy), stride: stride, pad: pad}, x, dy)
}

// conv2dInputGrad is dx from (dy, w): dcol = w^T x dycol, then col2im.
type conv2dInputGrad struct {
	gradBase
	stride, pad int
}

// SymDiff: dx = InputGrad(dy, w) is bilinear, and with g the gradient of
// dx, <g, InputGrad(dy, w)> = <conv(g, w), dy>, so d/d(dy) is the forward
// convolution of g and d/dw is WeightGrad(g, dy): the same stride and
// padding throughout, since g has the input's shape.
func (o *conv2dInputGrad) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := forgetDerivs(in); err != nil {
		return nil, err
	}
	dy, w := in[0], in[1]
	ddy, err := Conv2d(grad, w, nil, o.stride, o.pad)
	if err != nil {
		return nil, err
	}
	dw, err := convWeightGrad(grad, dy, w.Shape(), o.stride, o.pad)
	return gorgonia.Nodes{ddy, dw}, err
}

func (o *conv2dInputGrad) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *conv2dInputGrad) BindCPU(c *engine.Call[float32]) func()         { return bindConv2dInputGrad(o, c) }
func (o *conv2dInputGrad) bind64(c *engine.Call[float64]) func()          { return bindConv2dInputGrad(o, c) }

func (o *conv2dInputGrad) ScratchSize(in []tensor.Shape) int {
	g := newConvGeom(o.out, in[1], o.stride, o.pad)
	return g.planScratch()
}

func bindConv2dInputGrad[T engine.Float](o *conv2dInputGrad, c *engine.Call[T]) func() {
	g := newConvGeom(c.Out.Shape, c.In[1].Shape, o.stride, o.pad)
	if run := dnnlKernel(dnnlBackwardData, g, c); run != nil {
		return run
	}
	dx, dy, w := c.Out.Data, c.In[0].Data, c.In[1].Data
	kdim, ohw := g.kdim(), g.ohw()

	if g.pointwise() {
		return func() {
			for n := range g.n {
				gemm(true, false, g.c, ohw, g.k, 1, w, g.c, dy[n*g.k*ohw:], ohw, 0, dx[n*g.c*ohw:], ohw)
			}
		}
	}

	cc := newConvChunk[T](g)
	scratch := scratchFor(c.Scratch, g.scratch())
	dcol := scratch[:kdim*g.chunk*ohw]
	dycol := scratch[kdim*g.chunk*ohw:]
	gather := func(lo, hi int) { cc.gather(dycol, dy, lo, hi) }
	col2im := func(lo, hi int) { cc.col2im(dx, dcol, lo, hi) }
	return func() {
		for cc.n0 = 0; cc.n0 < g.n; cc.n0 += g.chunk {
			cc.nb = min(g.chunk, g.n-cc.n0)
			cols := cc.cols()
			par.For(g.k*cc.nb, g.unitGrain(), gather)
			gemm(true, false, kdim, cols, g.k, 1, w, kdim, dycol, cols, 0, dcol, cols)
			// col2im's unit is a whole input plane, KH*KW output
			// planes of work.
			par.For(cc.nb*g.c, max(1, g.unitGrain()/(g.kh*g.kw)), col2im)
		}
	}
}

// conv2dWeightGrad is dw from (x, dy): dw = sum over chunks of dycol x col^T.
type conv2dWeightGrad struct {
	gradBase
	stride, pad int
}

// SymDiff: dw = WeightGrad(x, dy) is bilinear, and with g the gradient of
// dw, <g, WeightGrad(x, dy)> = <conv(x, g), dy>, so d/dx is InputGrad(dy,
// g) and d/d(dy) is the forward convolution of x with g.
func (o *conv2dWeightGrad) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := forgetDerivs(in); err != nil {
		return nil, err
	}
	x, dy := in[0], in[1]
	dx, err := convInputGrad(dy, grad, x.Shape(), o.stride, o.pad)
	if err != nil {
		return nil, err
	}
	ddy, err := Conv2d(x, grad, nil, o.stride, o.pad)
	return gorgonia.Nodes{dx, ddy}, err
}

func (o *conv2dWeightGrad) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *conv2dWeightGrad) BindCPU(c *engine.Call[float32]) func()         { return bindConv2dWeightGrad(o, c) }
func (o *conv2dWeightGrad) bind64(c *engine.Call[float64]) func()          { return bindConv2dWeightGrad(o, c) }

func (o *conv2dWeightGrad) ScratchSize(in []tensor.Shape) int {
	g := newConvGeom(in[0], o.out, o.stride, o.pad)
	return g.planScratch()
}

func bindConv2dWeightGrad[T engine.Float](o *conv2dWeightGrad, c *engine.Call[T]) func() {
	g := newConvGeom(c.In[0].Shape, c.Out.Shape, o.stride, o.pad)
	if run := dnnlKernel(dnnlBackwardWeights, g, c); run != nil {
		return run
	}
	dw, x, dy := c.Out.Data, c.In[0].Data, c.In[1].Data
	kdim, ohw := g.kdim(), g.ohw()

	if g.pointwise() {
		return func() {
			clear(dw)
			for n := range g.n {
				gemm(false, true, g.k, g.c, ohw, 1, dy[n*g.k*ohw:], ohw, x[n*g.c*ohw:], ohw, 1, dw, g.c)
			}
		}
	}

	cc := newConvChunk[T](g)
	scratch := scratchFor(c.Scratch, g.scratch())
	col := scratch[:kdim*g.chunk*ohw]
	dycol := scratch[kdim*g.chunk*ohw:]
	im2col := func(lo, hi int) { cc.im2col(col, x, lo, hi) }
	gather := func(lo, hi int) { cc.gather(dycol, dy, lo, hi) }
	return func() {
		clear(dw)
		for cc.n0 = 0; cc.n0 < g.n; cc.n0 += g.chunk {
			cc.nb = min(g.chunk, g.n-cc.n0)
			cols := cc.cols()
			par.For(g.k*cc.nb, g.unitGrain(), gather)
			par.For(kdim*cc.nb, g.unitGrain(), im2col)
			gemm(false, true, g.k, kdim, cols, 1, dycol, cols, col, cols, 1, dw, kdim)
		}
	}
}
