package nn

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/engine"
)

// oneDNN's float32 convolutions on U-Net shapes (wide enough that it picks
// its blocked layouts, so the reorders run) against the float64 im2col
// kernels: the output and both gradients.
func TestOneDNNConvolutionsMatchIm2col(t *testing.T) {
	if convLibrary != ConvOneDNN {
		t.Fatalf("float32 convolutions use %s, want %s", convLibrary, ConvOneDNN)
	}
	for _, c := range []convCase{
		{tensor.Shape{3, 32, 9, 9}, tensor.Shape{48, 32, 3, 3}, 1, 1, true},
		{tensor.Shape{2, 64, 14, 14}, tensor.Shape{64, 64, 3, 3}, 2, 1, true}, // Down
		{tensor.Shape{2, 96, 7, 7}, tensor.Shape{32, 96, 1, 1}, 1, 0, true},   // skip 1x1
		{tensor.Shape{2, 1, 28, 28}, tensor.Shape{64, 1, 3, 3}, 1, 1, true},   // conv_in
		{tensor.Shape{2, 64, 28, 28}, tensor.Shape{1, 64, 3, 3}, 1, 1, false}, // conv_out
	} {
		t.Run(c.String(), func(t *testing.T) {
			g := newConvGeom(c.x, c.w, c.stride, c.pad)
			for kind := range 3 {
				d, err := newDNNLConv(kind, g, c.bias && kind == dnnlForward, false)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("kind %d: %s", kind, d.impl())
			}
			matchFloat64(t, c)
		})
	}
}

// matchFloat64 compares c's float32 output and gradients (oneDNN) with its
// float64 ones (im2col).
func matchFloat64(t *testing.T, c convCase) {
	t.Helper()
	got := buildTest(t, tensor.Float32, 5, c.shapes(), c.build)
	want := buildTest(t, tensor.Float64, 5, c.shapes(), c.build)
	got.run(t)
	want.run(t)
	assertClose(t, "output", f64s(t, got.out.Value()), f64s(t, want.out.Value()), 2e-6)
	for i := range got.grads {
		assertClose(t, "gradient of input "+string(rune('0'+i)), f64s(t, got.grads[i].Value()), f64s(t, want.grads[i].Value()), 2e-6)
	}
}

// A batch of five runs as chunks of two, two and one (the last by a
// primitive of its own), each weight gradient chunk added to the first.
func TestOneDNNConvolutionChunks(t *testing.T) {
	defer func(b int) { dnnlChunkBytes = b }(dnnlChunkBytes)
	for _, c := range []convCase{
		{tensor.Shape{5, 32, 9, 9}, tensor.Shape{48, 32, 3, 3}, 1, 1, true},
		{tensor.Shape{5, 16, 8, 8}, tensor.Shape{16, 16, 3, 3}, 2, 1, false},
	} {
		g := newConvGeom(c.x, c.w, c.stride, c.pad)
		dnnlChunkBytes = 2 * 4 * max(g.c*g.h*g.w, g.k*g.ohw())
		t.Run(c.String(), func(t *testing.T) {
			matchFloat64(t, c)
		})
	}
}

// With BF16 products each term x*w of a sum is off by at most 2^-8 of
// |x*w| (each operand rounded to 8 significant bits), so an output is
// within 2^-8 of the same sum over |x| and |w| (float64, im2col); the test
// allows twice that. It also checks that BF16 was used: FP32 would be far
// closer.
func TestOneDNNBF16ConvolutionsWithinRoundingBound(t *testing.T) {
	if !HasBF16() {
		t.Skip("this CPU has no AVX-512 BF16")
	}
	for _, c := range []convCase{
		{tensor.Shape{3, 32, 9, 9}, tensor.Shape{48, 32, 3, 3}, 1, 1, true},
		{tensor.Shape{2, 64, 14, 14}, tensor.Shape{64, 64, 3, 3}, 2, 1, false},
		{tensor.Shape{2, 96, 7, 7}, tensor.Shape{32, 96, 1, 1}, 1, 0, false},
	} {
		t.Run(c.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			g := newConvGeom(c.x, c.w, c.stride, c.pad)
			y := tensor.Shape{g.n, g.k, g.oh, g.ow}
			x, w, dy := randData(rng, c.x), randData(rng, c.w), randData(rng, y)
			var bias []float64
			if c.bias {
				bias = randData(rng, tensor.Shape{g.k})
			}
			ops := convOps(t, c)
			for kind, run := range []struct {
				in     []operand
				outDim tensor.Shape
			}{
				{[]operand{{c.x, x}, {c.w, w}, {tensor.Shape{g.k}, bias}}, y},
				{[]operand{{y, dy}, {c.w, w}}, c.x},
				{[]operand{{c.x, x}, {y, dy}}, c.w},
			} {
				got := runConv32(ops[kind], run.in, run.outDim, true)
				fp32 := runConv32(ops[kind], run.in, run.outDim, false)
				want := runConv64(ops[kind], run.in, run.outDim, false)
				bound := runConv64(ops[kind], run.in, run.outDim, true)
				var worst, fp32Worst float64
				for i := range want {
					worst = max(worst, math.Abs(float64(got[i])-want[i])/bound[i])
					fp32Worst = max(fp32Worst, math.Abs(float64(fp32[i])-want[i])/bound[i])
				}
				if worst > 2*math.Pow(2, -8) {
					t.Errorf("kind %d: error %.3g of the bound sum, want at most 2^-7", kind, worst)
				}
				if worst < 10*fp32Worst {
					t.Errorf("kind %d: BF16 error %.3g is not well above FP32's %.3g: were the products BF16?", kind, worst, fp32Worst)
				}
				t.Logf("kind %d: BF16 error %.3g, FP32 error %.3g of the bound", kind, worst, fp32Worst)
			}
		})
	}
}

// operand is a kernel input: its shape and values (nil: absent).
type operand struct {
	shape tensor.Shape
	data  []float64
}

func randData(rng *rand.Rand, s tensor.Shape) []float64 {
	d := make([]float64, s.TotalSize())
	for i := range d {
		d[i] = rng.NormFloat64()
	}
	return d
}

// runConv32 runs o's float32 kernel on the operands.
func runConv32(o op, in []operand, out tensor.Shape, bf16 bool) []float32 {
	c := &engine.Call[float32]{Out: engine.Tensor[float32]{Shape: out, Data: make([]float32, out.TotalSize())}, BF16: bf16}
	var shapes []tensor.Shape
	for _, v := range in {
		if v.data == nil {
			continue
		}
		d := make([]float32, len(v.data))
		for i, e := range v.data {
			d[i] = float32(e)
		}
		c.In = append(c.In, engine.Tensor[float32]{Shape: v.shape, Data: d})
		shapes = append(shapes, v.shape)
	}
	c.Scratch = make([]float32, o.ScratchSize(shapes))
	o.BindCPU(c)()
	return c.Out.Data
}

// runConv64 runs o's float64 kernel on the operands, or with abs on their
// absolute values: the sum of |terms| that bounds rounding errors.
func runConv64(o op, in []operand, out tensor.Shape, abs bool) []float64 {
	c := &engine.Call[float64]{Out: engine.Tensor[float64]{Shape: out, Data: make([]float64, out.TotalSize())}}
	var shapes []tensor.Shape
	for _, v := range in {
		if v.data == nil {
			continue
		}
		d := append([]float64(nil), v.data...)
		if abs {
			for i := range d {
				d[i] = math.Abs(d[i])
			}
		}
		c.In = append(c.In, engine.Tensor[float64]{Shape: v.shape, Data: d})
		shapes = append(shapes, v.shape)
	}
	c.Scratch = make([]float64, o.ScratchSize(shapes))
	o.bind64(c)()
	return c.Out.Data
}

// A primitive dropped by its plan must live until its last run returns:
// the garbage collector may run its finalizer during that run, and before
// run kept it alive the finalizer freed the primitive under oneDNN (a
// segfault in memset one run in ten of this package's tests). Every run
// here is the primitive's last, with collections running throughout.
func TestOneDNNConvolutionOutlivesItsLastRun(t *testing.T) {
	g := newConvGeom(tensor.Shape{4, 64, 28, 28}, tensor.Shape{64, 64, 3, 3}, 1, 1)
	rng := rand.New(rand.NewPCG(1, 2))
	x, w := make([]float32, 4*64*28*28), make([]float32, 64*64*3*3)
	for i := range x {
		x[i] = rng.Float32()
	}
	for i := range w {
		w[i] = rng.Float32()
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				runtime.GC()
			}
		}
	}()
	var first []float32
	for i := range 40 {
		y := make([]float32, 4*64*28*28)
		runOnce(t, g, x, w, y)
		if first == nil {
			first = y
		} else if !slices.Equal(y, first) {
			t.Fatalf("run %d differs from the first", i)
		}
	}
}

// runOnce makes a forward primitive, runs it once and drops it.
func runOnce(t *testing.T, g convGeom, x, w, y []float32) {
	d, err := newDNNLConv(dnnlForward, g, false, false)
	if err != nil {
		t.Fatal(err)
	}
	d.run(x, w, nil, y)
}
