//go:build gpu

package nn

import (
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/gpu"
)

// On the GPU every convolution, 1x1 ones included, goes through the column
// layout of conv.go, in chunks of up to 64M elements of scratch (256 MB), so
// that each chunk is one large GEMM.
const maxConvScratchGPU = 64 << 20

func convGeomGPU(x, w tensor.Shape, stride, pad int) convGeom {
	return convGeomWithin(x, w, stride, pad, maxConvScratchGPU)
}

func (g *convGeom) scratchGPU() int { return (g.kdim() + g.k) * g.chunk * g.ohw() }

// convLaunch holds a convolution's device buffers and geometry.
type convLaunch struct {
	d         *gpu.Device
	g         convGeom
	col, ycol gpu.Ptr // scratch: [kdim, cols] and [K, cols]
}

func newConvLaunch(b *gpu.Backend, c *gpu.Call, g convGeom) *convLaunch {
	return &convLaunch{d: b.D, g: g, col: c.Scratch, ycol: c.Scratch.Add(g.kdim() * g.chunk * g.ohw())}
}

// eachChunk calls f with the first image and the image count of each chunk.
func (l *convLaunch) eachChunk(f func(n0, nb int) error) error {
	for n0 := 0; n0 < l.g.n; n0 += l.g.chunk {
		if err := f(n0, min(l.g.chunk, l.g.n-n0)); err != nil {
			return err
		}
	}
	return nil
}

// geometry is the tail of im2col's and col2im's arguments.
func (l *convLaunch) geometry(n0, nb int) []any {
	g := &l.g
	return []any{n0, nb, g.c, g.h, g.w, g.kh, g.kw, g.oh, g.ow, g.stride, g.pad}
}

func (l *convLaunch) im2col(x gpu.Ptr, n0, nb int) error {
	n := l.g.kdim() * nb * l.g.ohw()
	return l.d.Launch("im2col", l.d.Grid(n), gpu.Threads, append([]any{l.col, x}, l.geometry(n0, nb)...)...)
}

func (l *convLaunch) col2im(dx gpu.Ptr, n0, nb int) error {
	n := nb * l.g.c * l.g.h * l.g.w
	return l.d.Launch("col2im", l.d.Grid(n), gpu.Threads, append([]any{dx, l.col}, l.geometry(n0, nb)...)...)
}

func (l *convLaunch) gather(y gpu.Ptr, n0, nb int) error {
	return l.d.Launch("gather", l.d.Grid(l.g.k*nb*l.g.ohw()), gpu.Threads, l.ycol, y, n0, nb, l.g.k, l.g.ohw())
}

func (o *conv2d) ScratchGPU(in []tensor.Shape) int {
	g := convGeomGPU(in[0], in[1], o.stride, o.pad)
	return g.scratchGPU()
}

// BindGPU: per chunk, im2col, ycol = W col, then y = ycol + bias in NCHW.
func (o *conv2d) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	l := newConvLaunch(b, c, convGeomGPU(c.In[0].Shape, c.In[1].Shape, o.stride, o.pad))
	g := &l.g
	x, w, y := c.In[0].Ptr, c.In[1].Ptr, c.Out.Ptr
	var bias gpu.Ptr
	if len(c.In) == 3 {
		bias = c.In[2].Ptr
	}
	kdim, ohw := g.kdim(), g.ohw()
	return func() error {
		return l.eachChunk(func(n0, nb int) error {
			cols := nb * ohw
			if err := l.im2col(x, n0, nb); err != nil {
				return err
			}
			if err := l.d.Gemm(false, false, g.k, cols, kdim, 1, w, kdim, 0, l.col, cols, 0, 0, l.ycol, cols, 0, 1); err != nil {
				return err
			}
			return l.d.Launch("scatter", l.d.Grid(g.k*cols), gpu.Threads, y, l.ycol, bias, n0, nb, g.k, ohw)
		})
	}, nil
}

func (o *conv2dInputGrad) ScratchGPU(in []tensor.Shape) int {
	g := convGeomGPU(o.out, in[1], o.stride, o.pad)
	return g.scratchGPU()
}

// BindGPU: per chunk, dycol = dy in columns, dcol = W^T dycol, col2im.
func (o *conv2dInputGrad) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	l := newConvLaunch(b, c, convGeomGPU(c.Out.Shape, c.In[1].Shape, o.stride, o.pad))
	g := &l.g
	dy, w, dx := c.In[0].Ptr, c.In[1].Ptr, c.Out.Ptr
	kdim, ohw := g.kdim(), g.ohw()
	return func() error {
		return l.eachChunk(func(n0, nb int) error {
			cols := nb * ohw
			if err := l.gather(dy, n0, nb); err != nil {
				return err
			}
			if err := l.d.Gemm(true, false, kdim, cols, g.k, 1, w, kdim, 0, l.ycol, cols, 0, 0, l.col, cols, 0, 1); err != nil {
				return err
			}
			return l.col2im(dx, n0, nb)
		})
	}, nil
}

func (o *conv2dWeightGrad) ScratchGPU(in []tensor.Shape) int {
	g := convGeomGPU(in[0], o.out, o.stride, o.pad)
	return g.scratchGPU()
}

// BindGPU: per chunk, dycol and col, then dW += dycol col^T.
func (o *conv2dWeightGrad) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	l := newConvLaunch(b, c, convGeomGPU(c.In[0].Shape, c.Out.Shape, o.stride, o.pad))
	g := &l.g
	x, dy, dw := c.In[0].Ptr, c.In[1].Ptr, c.Out.Ptr
	kdim, ohw := g.kdim(), g.ohw()
	return func() error {
		return l.eachChunk(func(n0, nb int) error {
			cols := nb * ohw
			if err := l.gather(dy, n0, nb); err != nil {
				return err
			}
			if err := l.im2col(x, n0, nb); err != nil {
				return err
			}
			beta := float32(1)
			if n0 == 0 {
				beta = 0
			}
			return l.d.Gemm(false, true, g.k, kdim, cols, 1, l.ycol, cols, 0, l.col, cols, 0, beta, dw, kdim, 0, 1)
		})
	}, nil
}
