//go:build gpu

package nn

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/gpu"
	"github.com/scoregen/scoregen/internal/numdiff"
)

var (
	deviceOnce sync.Once
	device     *gpu.Device
	deviceErr  error
)

// testDevice opens GPU 0 once for all tests.
func testDevice(t *testing.T) *gpu.Device {
	t.Helper()
	deviceOnce.Do(func() { device, deviceErr = gpu.Open(0, gpu.Options{}) })
	if deviceErr != nil {
		t.Fatal(deviceErr)
	}
	return device
}

// gpuCase is a graph of nn ops on random inputs of the given shapes.
type gpuCase struct {
	name   string
	shapes []tensor.Shape
	f      graphFn
}

func act(a Act, slope float64) graphFn {
	return func(in []*gorgonia.Node) (*gorgonia.Node, error) { return Activate(in[0], a, slope) }
}

// positiveAct is b(a(x)), where a maps into b's domain x > 0.
func positiveAct(a, b Act) graphFn {
	return func(in []*gorgonia.Node) (*gorgonia.Node, error) {
		y, err := Activate(in[0], a, 0)
		if err != nil {
			return nil, err
		}
		return Activate(y, b, 0)
	}
}

// actGrad is the gradient of sum(act(in[0]) * in[1]) by in[0], so that the
// case's own gradient runs activationGrad2 and activationGrad backwards.
func actGrad(a Act, slope float64) graphFn {
	return func(in []*gorgonia.Node) (*gorgonia.Node, error) {
		y, err := Activate(in[0], a, slope)
		if err == nil {
			y, err = Binary(Mul, y, in[1])
		}
		if err == nil {
			y, err = Sum(y)
		}
		if err != nil {
			return nil, err
		}
		g, err := gorgonia.Grad(y, in[0])
		if err != nil {
			return nil, err
		}
		return g[0], nil
	}
}

func bin(k BinaryKind) graphFn {
	return func(in []*gorgonia.Node) (*gorgonia.Node, error) { return Binary(k, in[0], in[1]) }
}

func conv(stride, pad int, bias bool) graphFn {
	return func(in []*gorgonia.Node) (*gorgonia.Node, error) {
		if bias {
			return Conv2d(in[0], in[1], in[2], stride, pad)
		}
		return Conv2d(in[0], in[1], nil, stride, pad)
	}
}

func gn(groups int, a Act) graphFn {
	return func(in []*gorgonia.Node) (*gorgonia.Node, error) {
		return GroupNorm(in[0], in[1], in[2], groups, 1e-6, a)
	}
}

var dropRNG = &RNG{Seed: 7, Step: 3}

var gpuCases = []gpuCase{
	{"SiLU", []tensor.Shape{{2, 3, 5, 7}}, act(SiLU, 0)},
	{"ReLU", []tensor.Shape{{2, 3, 5, 7}}, act(ReLU, 0)},
	{"LeakyReLU", []tensor.Shape{{2, 3, 5, 7}}, act(LeakyReLU, 0.2)},
	{"Sigmoid", []tensor.Shape{{2, 3, 5, 7}}, act(Sigmoid, 0)},
	{"Tanh", []tensor.Shape{{2, 3, 5, 7}}, act(Tanh, 0)},
	{"Exp", []tensor.Shape{{2, 3, 5, 7}}, act(Exp, 0)},
	{"Softplus", []tensor.Shape{{2, 3, 5, 7}}, act(Softplus, 0)},
	{"LogOfExp", []tensor.Shape{{2, 3, 5, 7}}, positiveAct(Exp, Log)},
	{"SqrtOfSoftplus", []tensor.Shape{{2, 3, 5, 7}}, positiveAct(Softplus, Sqrt)},
	{"SiLUSecondOrder", []tensor.Shape{{3, 4, 5}, {3, 4, 5}}, actGrad(SiLU, 0)},
	{"LeakyReLUSecondOrder", []tensor.Shape{{3, 4, 5}, {3, 4, 5}}, actGrad(LeakyReLU, 0.2)},
	{"SqrtSecondOrder", []tensor.Shape{{3, 4, 5}, {3, 4, 5}}, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
		x, err := Activate(in[0], Exp, 0)
		if err != nil {
			return nil, err
		}
		return actGrad(Sqrt, 0)([]*gorgonia.Node{x, in[1]})
	}},
	{"Add", []tensor.Shape{{2, 3, 4, 5}, {2, 3, 4, 5}}, bin(Add)},
	{"AddChannel", []tensor.Shape{{2, 3, 4, 5}, {1, 3, 1, 1}}, bin(Add)},
	{"SubRows", []tensor.Shape{{4, 5}, {1, 5}}, bin(Sub)},
	{"MulBoth", []tensor.Shape{{2, 1, 4, 5}, {2, 3, 1, 5}}, bin(Mul)},
	{"Scale", []tensor.Shape{{3, 7}}, func(in []*gorgonia.Node) (*gorgonia.Node, error) { return Scale(in[0], -0.75) }},
	{"SumTo", []tensor.Shape{{2, 3, 4, 5}}, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
		return SumTo(in[0], tensor.Shape{1, 3, 1, 5})
	}},
	{"Mean", []tensor.Shape{{5, 6, 7}}, func(in []*gorgonia.Node) (*gorgonia.Node, error) { return Mean(in[0]) }},
	{"Conv3x3", []tensor.Shape{{3, 4, 9, 9}, {5, 4, 3, 3}, {5}}, conv(1, 1, true)},
	{"Conv3x3Stride2", []tensor.Shape{{3, 4, 9, 8}, {5, 4, 3, 3}, {5}}, conv(2, 1, true)},
	{"Conv1x1", []tensor.Shape{{2, 6, 5, 5}, {3, 6, 1, 1}, {3}}, conv(1, 0, true)},
	{"ConvNoBias", []tensor.Shape{{2, 3, 6, 6}, {4, 3, 3, 3}}, conv(1, 0, false)},
	{"Linear", []tensor.Shape{{6, 7}, {5, 7}, {5}}, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
		return Linear(in[0], in[1], in[2])
	}},
	{"MatMulBatchedT", []tensor.Shape{{3, 4, 5}, {3, 6, 4}}, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
		return MatMul(in[0], in[1], true, true)
	}},
	{"GroupNormSiLU", []tensor.Shape{{3, 8, 5, 5}, {8}, {8}}, gn(4, SiLU)},
	{"GroupNorm2D", []tensor.Shape{{4, 8}, {8}, {8}}, gn(2, Identity)},
	{"BatchNorm", []tensor.Shape{{3, 8, 5, 5}, {8}, {8}}, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
		return BatchNorm(in[0], in[1], in[2], 1e-5)
	}},
	{"BatchNorm2D", []tensor.Shape{{6, 5}, {5}, {5}}, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
		return BatchNorm(in[0], in[1], in[2], 1e-5)
	}},
	{"Softmax", []tensor.Shape{{6, 10}}, func(in []*gorgonia.Node) (*gorgonia.Node, error) { return Softmax(in[0]) }},
	{"Concat", []tensor.Shape{{2, 3, 4, 4}, {2, 5, 4, 4}}, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
		return Concat(in[0], in[1])
	}},
	{"Split", []tensor.Shape{{2, 6, 3, 3}}, func(in []*gorgonia.Node) (*gorgonia.Node, error) { return Split(in[0], 1, 4) }},
	{"Upsample2x", []tensor.Shape{{2, 3, 4, 5}}, func(in []*gorgonia.Node) (*gorgonia.Node, error) { return Upsample2x(in[0]) }},
	{"Dropout", []tensor.Shape{{3, 5, 7}}, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
		return Dropout(in[0], 0.3, 11, dropRNG)
	}},
	{"UniformLike", []tensor.Shape{{3, 5, 7}}, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
		u, err := UniformLike(in[0], 12, dropRNG) // times x, so that the case has a gradient
		if err != nil {
			return nil, err
		}
		return Binary(Mul, u, in[0])
	}},
	// The draws' inputs are differentiated through a second path (Grad
	// needs one); p runs from below 0 to above 1.
	{"NormalLike", []tensor.Shape{{3, 5, 7}}, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
		z, err := NormalLike(in[0], 12, dropRNG)
		if err != nil {
			return nil, err
		}
		return Binary(Add, in[0], z)
	}},
	{"Bernoulli", []tensor.Shape{{3, 5, 7}, {3, 5, 7}}, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
		b, err := Bernoulli(in[1], 13, dropRNG)
		if err == nil {
			b, err = Binary(Mul, b, in[0])
		}
		if err != nil {
			return nil, err
		}
		return Binary(Add, b, in[1])
	}},
	{"Sinusoidal", []tensor.Shape{{5}}, func(in []*gorgonia.Node) (*gorgonia.Node, error) { return Sinusoidal(in[0], 16, 1000) }},
	{"MSE", []tensor.Shape{{4, 9}, {4, 9}}, func(in []*gorgonia.Node) (*gorgonia.Node, error) { return MSE(in[0], in[1]) }},
	{"PseudoHuber", []tensor.Shape{{3, 2, 5, 5}, {3, 2, 5, 5}, {3}}, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
		return PseudoHuber(in[0], in[1], in[2], 0.5)
	}},
	{"SoftmaxCrossEntropy", []tensor.Shape{{37, 10}, {37, 10}}, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
		return SoftmaxCrossEntropy(in[0], in[1])
	}},
	{"DiscLogisticNLL", []tensor.Shape{{2, 3, 4, 5}, {2, 3, 4, 5}, {2, 3, 4, 5}}, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
		return DiscLogisticNLL(in[0], in[1], in[2])
	}},
	{"Reshape", []tensor.Shape{{2, 3, 4}}, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
		return Reshape(in[0], tensor.Shape{6, 4})
	}},
}

// randomCases are cases of random sizes (drawn from seed, and named by
// them): convolutions of every stride and padding, broadcasts with random
// axes of size 1, group norms, and softmax rows longer than a block.
func randomCases(seed uint64) []gpuCase {
	rng := rand.New(rand.NewPCG(seed, 3))
	in := func(lo, hi int) int { return lo + rng.IntN(hi-lo+1) }
	var cases []gpuCase
	for range 4 {
		n, cin, cout, k, stride := in(1, 5), in(1, 6), in(1, 6), 2*in(0, 1)+1, in(1, 2)
		pad := in(0, k/2)
		h, w := in(k, 12), in(k, 12)
		cases = append(cases, gpuCase{fmt.Sprintf("RandomConv%dx%d_s%dp%d_%dx%dx%dx%d_to_%d", k, k, stride, pad, n, cin, h, w, cout),
			[]tensor.Shape{{n, cin, h, w}, {cout, cin, k, k}, {cout}}, conv(stride, pad, true)})

		full := tensor.Shape{in(1, 4), in(1, 5), in(1, 6), in(1, 7)}
		small := full.Clone()
		for i := range small {
			if rng.IntN(2) == 0 {
				small[i] = 1
			}
		}
		cases = append(cases, gpuCase{fmt.Sprintf("RandomMul%vx%v", full, small), []tensor.Shape{full, small}, bin(Mul)})

		groups := in(1, 4)
		c := groups * in(1, 3)
		cases = append(cases, gpuCase{fmt.Sprintf("RandomGroupNorm%d_groups%d", c, groups),
			[]tensor.Shape{{in(1, 4), c, in(1, 9), in(1, 9)}, {c}, {c}}, gn(groups, SiLU)})

		cases = append(cases, gpuCase{"RandomSoftmax", []tensor.Shape{{in(1, 5), in(1, 700)}},
			func(in []*gorgonia.Node) (*gorgonia.Node, error) { return Softmax(in[0]) }})
	}
	return cases
}

// gpuGraph is a case's graph with a cost sum(out * w) built from nn ops
// (the engine compiles nothing else), and the gradients of every input.
func gpuGraph(t *testing.T, c gpuCase, seed uint64) (outs []*gorgonia.Node) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 2))
	g := gorgonia.NewGraph()
	var in []*gorgonia.Node
	for i, s := range c.shapes {
		in = append(in, gorgonia.NewTensor(g, tensor.Float32, s.Dims(), gorgonia.WithShape(s...),
			gorgonia.WithName("in"+string(rune('0'+i))), gorgonia.WithValue(randTensor(rng, tensor.Float32, s, 1))))
	}
	out, err := c.f(in)
	if err != nil {
		t.Fatal(err)
	}
	cost := out
	if !out.IsScalar() {
		w := gorgonia.NewTensor(g, tensor.Float32, out.Dims(), gorgonia.WithShape(out.Shape()...), gorgonia.WithName("w"),
			gorgonia.WithValue(randTensor(rng, tensor.Float32, out.Shape(), 1)))
		if cost, err = Binary(Mul, out, w); err == nil {
			cost, err = Sum(cost)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	grads, err := gorgonia.Grad(cost, in...)
	if err != nil {
		t.Fatal(err)
	}
	return append(gorgonia.Nodes{out, cost}, grads...)
}

// TestOpsMatchCPU runs every op forward and backward on the GPU and on the
// CPU backend from the same graph, with the GPU arena poisoned by NaN: the
// fixed cases, then random ones (a failing case's name gives its sizes).
func TestOpsMatchCPU(t *testing.T) {
	d := testDevice(t)
	for _, c := range append(gpuCases, randomCases(uint64(time.Now().UnixNano()))...) {
		t.Run(c.name, func(t *testing.T) {
			outs := gpuGraph(t, c, 1)
			cpu, err := engine.Compile(outs, engine.NewCPU())
			if err != nil {
				t.Fatal(err)
			}
			b := gpu.NewBackend(d)
			b.Poison = true
			defer b.Close()
			gp, err := engine.Compile(outs, b)
			if err != nil {
				t.Fatal(err)
			}
			for run := range 2 { // the second run replays the recorded graph
				dropRNG.Step++
				if err := cpu.Run(); err != nil {
					t.Fatal(err)
				}
				if err := gp.Run(); err != nil {
					t.Fatal(err)
				}
				for _, n := range outs {
					want := make([]float32, max(n.Shape().TotalSize(), 1))
					got := make([]float32, len(want))
					if err := cpu.Read(n, want); err != nil {
						t.Fatal(err)
					}
					if err := gp.Read(n, got); err != nil {
						t.Fatal(err)
					}
					// Relative to want's largest magnitude (sums of another
					// order round every element); NaN (poisoned, unwritten)
					// fails.
					d := numdiff.Of(got, want)
					t.Logf("run %d, %s: %v", run, n.Name(), d)
					if !d.Within(1e-5) {
						t.Errorf("run %d, %s: GPU against CPU: %v, tolerance 1e-5", run, n.Name(), d)
					}
				}
			}
		})
	}
}

// Accuracy has no gradient, so it is not a gpuCase: a batch longer than
// the block, on the GPU against the CPU backend, exactly (it is a count).
func TestAccuracyMatchesCPU(t *testing.T) {
	d := testDevice(t)
	rng := rand.New(rand.NewPCG(10, 10))
	g := gorgonia.NewGraph()
	s := tensor.Shape{1500, 10}
	l := gorgonia.NewTensor(g, tensor.Float32, 2, gorgonia.WithShape(s...), gorgonia.WithName("logits"),
		gorgonia.WithValue(randTensor(rng, tensor.Float32, s, 1)))
	y := gorgonia.NewTensor(g, tensor.Float32, 2, gorgonia.WithShape(s...), gorgonia.WithName("targets"),
		gorgonia.WithValue(randTensor(rng, tensor.Float32, s, 1)))
	acc, err := Accuracy(l, y)
	if err != nil {
		t.Fatal(err)
	}
	cpu, err := engine.Compile(gorgonia.Nodes{acc}, engine.NewCPU())
	if err != nil {
		t.Fatal(err)
	}
	b := gpu.NewBackend(d)
	b.Poison = true
	defer b.Close()
	gp, err := engine.Compile(gorgonia.Nodes{acc}, b)
	if err != nil {
		t.Fatal(err)
	}
	want, got := make([]float32, 1), make([]float32, 1)
	for _, run := range []struct {
		p   *engine.Plan
		out []float32
	}{{cpu, want}, {gp, got}} {
		if err := run.p.Run(); err != nil {
			t.Fatal(err)
		}
		if err := run.p.Read(acc, run.out); err != nil {
			t.Fatal(err)
		}
	}
	if got[0] != want[0] {
		t.Errorf("accuracy %v on the GPU, %v on the CPU", got[0], want[0])
	}
}

// ChannelMoments and BatchNormInference have no gradient, so they are not
// gpuCases: their outputs on the GPU against the CPU backend, for NCHW and
// [N,F], with a batch longer than a block.
func TestMomentsAndInferenceMatchCPU(t *testing.T) {
	d := testDevice(t)
	for _, s := range []tensor.Shape{{5, 6, 7, 3}, {300, 70}} {
		t.Run(fmt.Sprint(s), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(9, 9))
			g := gorgonia.NewGraph()
			x := gorgonia.NewTensor(g, tensor.Float32, s.Dims(), gorgonia.WithShape(s...), gorgonia.WithName("x"),
				gorgonia.WithValue(randTensor(rng, tensor.Float32, s, 2)))
			m, v, err := ChannelMoments(x)
			if err != nil {
				t.Fatal(err)
			}
			c := tensor.Shape{s[1]}
			var stats []*gorgonia.Node
			for _, name := range []string{"gamma", "beta", "mean", "variance"} {
				stats = append(stats, gorgonia.NewTensor(g, tensor.Float32, 1, gorgonia.WithShape(c...), gorgonia.WithName(name),
					gorgonia.WithValue(randTensor(rng, tensor.Float32, c, 1))))
			}
			pos, err := Activate(stats[3], Exp, 0) // a positive variance
			if err != nil {
				t.Fatal(err)
			}
			y, err := BatchNormInference(x, stats[0], stats[1], stats[2], pos, 1e-5)
			if err != nil {
				t.Fatal(err)
			}
			outs := gorgonia.Nodes{m, v, y}
			cpu, err := engine.Compile(outs, engine.NewCPU())
			if err != nil {
				t.Fatal(err)
			}
			b := gpu.NewBackend(d)
			b.Poison = true
			defer b.Close()
			gp, err := engine.Compile(outs, b)
			if err != nil {
				t.Fatal(err)
			}
			if err := cpu.Run(); err != nil {
				t.Fatal(err)
			}
			if err := gp.Run(); err != nil {
				t.Fatal(err)
			}
			for _, n := range outs {
				want, got := make([]float32, n.Shape().TotalSize()), make([]float32, n.Shape().TotalSize())
				if err := cpu.Read(n, want); err != nil {
					t.Fatal(err)
				}
				if err := gp.Read(n, got); err != nil {
					t.Fatal(err)
				}
				if d := numdiff.Of(got, want); !d.Within(1e-5) {
					t.Errorf("%s: GPU against CPU: %v, tolerance 1e-5", n.Name(), d)
				}
			}
		})
	}
}
