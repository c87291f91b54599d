package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/kernels/hostemu"
)

// runCPU runs the graph of out on the CPU backend with its inputs' bound
// values and returns out's value.
func runCPU(t *testing.T, out *gorgonia.Node) []float32 {
	t.Helper()
	plan, err := engine.Compile(gorgonia.Nodes{out}, engine.NewCPU())
	if err != nil {
		t.Fatal(err)
	}
	if err := plan.Run(); err != nil {
		t.Fatal(err)
	}
	v := make([]float32, max(out.Shape().TotalSize(), 1))
	if err := plan.Read(out, v); err != nil {
		t.Fatal(err)
	}
	return v
}

// valued is a float32 input of shape s with random values.
func valued(g *gorgonia.ExprGraph, rng *rand.Rand, name string, s tensor.Shape) (*gorgonia.Node, []float32) {
	v := randTensor(rng, tensor.Float32, s, 1)
	return gorgonia.NewTensor(g, tensor.Float32, s.Dims(), gorgonia.WithShape(s...), gorgonia.WithName(name), gorgonia.WithValue(v)), v.Data().([]float32)
}

// ones is s with each axis set to 1 at random.
func ones(rng *rand.Rand, s tensor.Shape) tensor.Shape {
	o := s.Clone()
	for i := range o {
		if rng.IntN(2) == 0 {
			o[i] = 1
		}
	}
	return o
}

func near(got, want []float32, tol float64) error {
	for i := range want {
		if d := math.Abs(float64(got[i]) - float64(want[i])); !(d <= tol*math.Max(1, math.Abs(float64(want[i])))) {
			return fmt.Errorf("element %d is %v, want %v", i, got[i], want[i])
		}
	}
	return nil
}

// The arguments that the CUDA launchers of Binary, ExpandTo and ReduceTo
// compute (gpuargs.go), fed to the kernels run on the CPU, give the CPU
// ops' results on random shapes of rank 2 to 4 with random broadcast axes.
func TestBroadcastLaunchArgs(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 13))
	for trial := range 40 {
		full := make(tensor.Shape, 2+rng.IntN(3))
		for i := range full {
			full[i] = 1 + rng.IntN(4)
		}
		as, bs := ones(rng, full), ones(rng, full)
		g := gorgonia.NewGraph()
		a, av := valued(g, rng, "a", as)
		b, bv := valued(g, rng, "b", bs)
		y, err := Binary(Mul, a, b)
		if err != nil {
			t.Fatal(err)
		}
		out := y.Shape()
		d, err1 := view4(out)
		sa, err2 := strides4(as, out)
		sb, err3 := strides4(bs, out)
		if err := firstErr(err1, err2, err3); err != nil {
			t.Fatal(err)
		}
		got := make([]float32, out.TotalSize())
		hostemu.Binary(got, av, bv, int(Mul), d, sa, sb)
		if err := near(got, runCPU(t, y), 0); err != nil {
			t.Fatalf("trial %d: %v * %v: %v", trial, as, bs, err)
		}

		small := ones(rng, full)
		x, xv := valued(g, rng, "x", small)
		e, err := expand(x, full, 0.5)
		if err != nil {
			t.Fatal(err)
		}
		de, err1 := view4(full)
		se, err2 := strides4(keepDims(full, small), full)
		if err := firstErr(err1, err2); err != nil {
			t.Fatal(err)
		}
		got = make([]float32, full.TotalSize())
		hostemu.Expand(got, xv, 0.5, de, se)
		if err := near(got, runCPU(t, e), 0); err != nil {
			t.Fatalf("trial %d: expand %v to %v: %v", trial, small, full, err)
		}

		to := small
		if trial%5 == 0 {
			to = tensor.ScalarShape()
		}
		f, fv := valued(g, rng, "f", full)
		r, err := reduce(f, to, 0.5)
		if err != nil {
			t.Fatal(err)
		}
		if r == f {
			continue // nothing to reduce: no op, no kernel
		}
		axes, rn, err := reduceAxes(full, keepDims(full, to))
		if err != nil {
			t.Fatal(err)
		}
		var ax [14]int32
		for i, v := range axes {
			ax[i] = int32(v)
		}
		got = make([]float32, max(to.TotalSize(), 1))
		hostemu.ReduceTo(hostemu.Launch{Grid: len(got), Block: 64}, got, fv, 0.5, ax, rn)
		if err := near(got, runCPU(t, r), 1e-5); err != nil {
			t.Fatalf("trial %d: reduce %v to %v: %v", trial, full, to, err)
		}
	}
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
