package nn

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/engine"
)

type convCase struct {
	x, w        tensor.Shape
	stride, pad int
	bias        bool
}

func (c convCase) String() string {
	return fmt.Sprintf("x%v_w%v_s%d_p%d_bias%v", c.x, c.w, c.stride, c.pad, c.bias)
}

func (c convCase) shapes() []tensor.Shape {
	s := []tensor.Shape{c.x, c.w}
	if c.bias {
		s = append(s, tensor.Shape{c.w[0]})
	}
	return s
}

func (c convCase) build(in []*gorgonia.Node) (*gorgonia.Node, error) {
	var b *gorgonia.Node
	if c.bias {
		b = in[2]
	}
	return Conv2d(in[0], in[1], b, c.stride, c.pad)
}

// reference is the same convolution from gorgonia's built-ins.
func (c convCase) reference(in []*gorgonia.Node) (*gorgonia.Node, error) {
	y, err := gorgonia.Conv2d(in[0], in[1], tensor.Shape{c.w[2], c.w[3]}, []int{c.pad, c.pad}, []int{c.stride, c.stride}, []int{1, 1})
	if err != nil || !c.bias {
		return y, err
	}
	b, err := gorgonia.Reshape(in[2], tensor.Shape{1, c.w[0], 1, 1})
	if err != nil {
		return nil, err
	}
	return gorgonia.BroadcastAdd(y, b, nil, []byte{0, 2, 3})
}

var convCases = []convCase{
	{tensor.Shape{2, 3, 5, 7}, tensor.Shape{4, 3, 3, 3}, 1, 1, true},
	{tensor.Shape{2, 3, 5, 7}, tensor.Shape{4, 3, 3, 3}, 2, 1, true},
	{tensor.Shape{2, 3, 6, 6}, tensor.Shape{2, 3, 3, 3}, 2, 0, false},
	{tensor.Shape{1, 2, 4, 5}, tensor.Shape{3, 2, 3, 3}, 1, 2, true},
	{tensor.Shape{3, 2, 6, 5}, tensor.Shape{3, 2, 1, 1}, 1, 0, true},  // pointwise: no im2col
	{tensor.Shape{2, 4, 3, 3}, tensor.Shape{5, 4, 1, 1}, 1, 0, false}, // pointwise, no bias
	{tensor.Shape{2, 2, 7, 5}, tensor.Shape{3, 2, 1, 1}, 2, 0, true},  // strided 1x1 takes the general path
	{tensor.Shape{2, 2, 4, 5}, tensor.Shape{2, 2, 1, 1}, 1, 1, false}, // padded 1x1 too
	{tensor.Shape{2, 3, 7, 6}, tensor.Shape{2, 3, 4, 3}, 1, 2, false}, // 4x3 kernel
	{tensor.Shape{1, 2, 9, 8}, tensor.Shape{3, 2, 4, 3}, 2, 1, true},
	{tensor.Shape{2, 1, 4, 4}, tensor.Shape{2, 1, 4, 4}, 1, 0, true}, // kernel covers the image
	{tensor.Shape{2, 2, 3, 3}, tensor.Shape{2, 2, 3, 3}, 2, 2, true}, // more padding than image
}

func TestConv2dGradient(t *testing.T) {
	for _, c := range convCases {
		t.Run(c.String(), func(t *testing.T) { checkOp(t, c.shapes(), c.build) })
	}
}

// TestConv2dChunks shrinks the scratch bound so that a batch of five images
// runs as chunks of two, two and one.
func TestConv2dChunks(t *testing.T) {
	defer func(m int) { maxConvScratch = m }(maxConvScratch)
	for _, c := range []convCase{
		{tensor.Shape{5, 3, 5, 6}, tensor.Shape{4, 3, 3, 3}, 1, 1, true},
		{tensor.Shape{5, 2, 7, 5}, tensor.Shape{3, 2, 4, 3}, 2, 1, false},
	} {
		g := newConvGeom(c.x, c.w, c.stride, c.pad)
		maxConvScratch = 2 * (g.kdim() + g.k) * g.ohw()
		if g = newConvGeom(c.x, c.w, c.stride, c.pad); g.chunk != 2 {
			t.Fatalf("%v: chunk = %d, want 2", c, g.chunk)
		}
		t.Run(c.String(), func(t *testing.T) { checkOp(t, c.shapes(), c.build) })
	}
}

func TestConv2dAgainstGorgonia(t *testing.T) {
	for _, c := range convCases {
		t.Run(c.String(), func(t *testing.T) {
			checkAgainst(t, tensor.Float64, c.shapes(), c.build, c.reference, 1e-10)
		})
	}
}

func TestConv2dRejectsMismatchedShapes(t *testing.T) {
	g := gorgonia.NewGraph()
	x := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(2, 3, 8, 8), gorgonia.WithName("x"))
	w := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(4, 5, 3, 3), gorgonia.WithName("w"))
	_, err := Conv2d(x, w, nil, 1, 1)
	if err == nil {
		t.Fatal("Conv2d of (2,3,8,8) with (4,5,3,3) succeeded")
	}
	for _, s := range []tensor.Shape{x.Shape(), w.Shape()} {
		if !strings.Contains(err.Error(), fmt.Sprint(s)) {
			t.Errorf("error %q does not name shape %v", err, s)
		}
	}
	b := gorgonia.NewTensor(g, tensor.Float32, 1, gorgonia.WithShape(5), gorgonia.WithName("b"))
	w3 := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(4, 3, 3, 3), gorgonia.WithName("w3"))
	if _, err := Conv2d(x, w3, b, 1, 1); err == nil {
		t.Error("Conv2d with a 5-element bias for 4 output channels succeeded")
	}
	if _, err := Conv2d(x, w3, nil, 1, -1); err == nil {
		t.Error("Conv2d with pad -1 succeeded")
	}
}

// convOps are the forward op of c and its input and weight gradients.
func convOps(tb testing.TB, c convCase) []op {
	tb.Helper()
	g := gorgonia.NewGraph()
	var in []*gorgonia.Node
	for i, s := range c.shapes() {
		in = append(in, gorgonia.NewTensor(g, tensor.Float32, s.Dims(), gorgonia.WithShape(s...), gorgonia.WithName(fmt.Sprint("in", i))))
	}
	y, err := c.build(in)
	if err != nil {
		tb.Fatal(err)
	}
	dy := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(y.Shape()...), gorgonia.WithName("dy"))
	grads, err := y.Op().(op).SymDiff(in, y, dy)
	if err != nil {
		tb.Fatal(err)
	}
	return []op{y.Op().(op), grads[0].Op().(op), grads[1].Op().(op)}
}

// convKernels returns the forward op of c and its two backward ops, each
// bound in float32 to fresh random buffers.
func convKernels(tb testing.TB, c convCase) (names []string, runs []func()) {
	tb.Helper()
	ops := convOps(tb, c)
	g := newConvGeom(c.x, c.w, c.stride, c.pad)
	y := tensor.Shape{g.n, g.k, g.oh, g.ow}
	rng := rand.New(rand.NewPCG(1, 2))
	bind := func(o engine.CPUOp, out tensor.Shape, ins ...tensor.Shape) func() {
		call := &engine.Call[float32]{Out: engine.Tensor[float32]{Shape: out, Data: make([]float32, out.TotalSize())}}
		for _, s := range ins {
			call.In = append(call.In, engine.Tensor[float32]{Shape: s, Data: randTensor(rng, tensor.Float32, s, 1).Data().([]float32)})
		}
		call.Scratch = make([]float32, o.ScratchSize(ins))
		return o.BindCPU(call)
	}
	names = []string{"forward", "input-grad", "weight-grad"}
	runs = []func(){
		bind(ops[0], y, c.shapes()...),
		bind(ops[1], c.x, y, c.w),
		bind(ops[2], c.w, c.x, y),
	}
	return names, runs
}

func TestConv2dKernelsDoNotAllocate(t *testing.T) {
	for _, c := range []convCase{convCases[0], convCases[4]} {
		names, runs := convKernels(t, c)
		for i, run := range runs {
			run() // the first call starts par's workers
			if n := testing.AllocsPerRun(5, run); n != 0 {
				t.Errorf("%v %s: %v allocations per call", c, names[i], n)
			}
		}
	}
}

// BenchmarkConv2d times the three kernels of a mid-U-Net 3x3 convolution,
// then of the other kinds a U-Net has. Each pass is 2*N*Cout*Cin*KH*KW*Hout*Wout
// flops.
func BenchmarkConv2d(b *testing.B) {
	for _, c := range []struct {
		name string
		convCase
	}{
		{"3x3_64to64_28x28", convCase{tensor.Shape{32, 64, 28, 28}, tensor.Shape{64, 64, 3, 3}, 1, 1, true}},
		{"3x3_3to64_28x28", convCase{tensor.Shape{32, 3, 28, 28}, tensor.Shape{64, 3, 3, 3}, 1, 1, true}},
		{"3x3s2_64to128_28x28", convCase{tensor.Shape{32, 64, 28, 28}, tensor.Shape{128, 64, 3, 3}, 2, 1, true}},
		{"3x3_256to256_7x7", convCase{tensor.Shape{32, 256, 7, 7}, tensor.Shape{256, 256, 3, 3}, 1, 1, true}},
		{"1x1_128to64_14x14", convCase{tensor.Shape{32, 128, 14, 14}, tensor.Shape{64, 128, 1, 1}, 1, 0, true}},
	} {
		g := newConvGeom(c.x, c.w, c.stride, c.pad)
		flops := 2 * float64(g.n*g.k*g.kdim()*g.ohw())
		names, runs := convKernels(b, c.convCase)
		for i, run := range runs {
			b.Run(c.name+"/"+names[i], func(b *testing.B) {
				run()
				start := time.Now()
				for b.Loop() {
					run()
				}
				b.ReportMetric(flops*float64(b.N)/time.Since(start).Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
