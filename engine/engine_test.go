package engine_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/nn"
)

func input(g *gorgonia.ExprGraph, name string, s ...int) *gorgonia.Node {
	data := make([]float32, tensor.Shape(s).TotalSize())
	for i := range data {
		data[i] = float32(math.Sin(float64(i)*0.37+float64(len(name)))) * 2
	}
	return gorgonia.NewTensor(g, tensor.Float32, len(s), gorgonia.WithShape(s...), gorgonia.WithName(name),
		gorgonia.WithValue(tensor.New(tensor.WithShape(s...), tensor.WithBacking(data))))
}

// must is for graph construction that cannot fail in these tests.
func must(n *gorgonia.Node, err error) *gorgonia.Node {
	if err != nil {
		panic(err)
	}
	return n
}

// compareWithTape runs the same graph through a Plan (twice, so that a value
// clobbered by the first run shows) and gorgonia's TapeMachine and compares
// every output.
func compareWithTape(t *testing.T, outputs []*gorgonia.Node) *engine.Plan {
	t.Helper()
	p, err := engine.Compile(outputs, engine.NewCPU())
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := p.Run(); err != nil {
			t.Fatal(err)
		}
	}
	m := gorgonia.NewTapeMachine(outputs[0].Graph())
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	for _, n := range outputs {
		want := valueData(n.Value())
		got := make([]float32, len(want))
		if err := p.Read(n, got); err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s[%d]: plan %v, TapeMachine %v", n.Name(), i, got[i], want[i])
			}
		}
	}
	return p
}

func valueData(v gorgonia.Value) []float32 {
	if s, ok := v.(*gorgonia.F32); ok {
		return []float32{float32(*s)}
	}
	return v.Data().([]float32)
}

// A value read twice gets two gradient terms, which Backpropagate sums with
// gorgonia's Add: the engine must run that sum.
func TestGradientSumsMatchTapeMachine(t *testing.T) {
	g := gorgonia.NewGraph()
	x := input(g, "x", 3, 4, 5, 6)
	b := input(g, "b", 1, 4, 1, 1)
	h := must(nn.Activate(x, nn.SiLU, 0))
	h = must(nn.Binary(nn.Mul, h, x))
	h = must(nn.Binary(nn.Add, h, b))
	h = must(nn.Activate(h, nn.Tanh, 0))
	loss := must(nn.Mean(h))
	grads, err := gorgonia.Grad(loss, x, b)
	if err != nil {
		t.Fatal(err)
	}
	compareWithTape(t, append(gorgonia.Nodes{loss}, grads...))
}

// A chain of element-wise ops runs in place: the plan needs the input and
// one value, not one per node.
func TestBuffersAreReused(t *testing.T) {
	g := gorgonia.NewGraph()
	x := input(g, "x", 1000)
	h := x
	for range 20 {
		h = must(nn.Activate(h, nn.SiLU, 0))
	}
	p := compareWithTape(t, gorgonia.Nodes{h})
	// The input, and one value that the chain overwrites in place (each
	// padded to 1008 floats for alignment).
	if want := int64(2 * 1008 * 4); p.Bytes() != want {
		t.Fatalf("plan of a 20-op chain over 1000 floats takes %d bytes, want %d", p.Bytes(), want)
	}
}

func TestRunDoesNotAllocate(t *testing.T) {
	g := gorgonia.NewGraph()
	x := input(g, "x", 4, 8, 16, 16)
	h := must(nn.Activate(x, nn.SiLU, 0))
	h = must(nn.Binary(nn.Mul, h, x))
	loss := must(nn.Mean(h))
	grads, err := gorgonia.Grad(loss, x)
	if err != nil {
		t.Fatal(err)
	}
	p, err := engine.Compile(append(gorgonia.Nodes{loss}, grads...), engine.NewCPU())
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(10, func() { p.Run() }); n != 0 {
		t.Fatalf("Plan.Run allocates %v times per run", n)
	}
}

func TestUnknownOpIsACompileError(t *testing.T) {
	g := gorgonia.NewGraph()
	x := input(g, "x", 2, 3)
	y := must(gorgonia.Exp(x))
	_, err := engine.Compile(gorgonia.Nodes{y}, engine.NewCPU())
	if err == nil || !strings.Contains(err.Error(), "exp") {
		t.Fatalf("Compile of gorgonia's Exp: err = %v, want an error naming the op", err)
	}
}

func TestFloat64IsACompileError(t *testing.T) {
	g := gorgonia.NewGraph()
	x := gorgonia.NewMatrix(g, tensor.Float64, gorgonia.WithShape(2, 3), gorgonia.WithName("x64"))
	y := must(nn.Activate(x, nn.ReLU, 0))
	if _, err := engine.Compile(gorgonia.Nodes{y}, engine.NewCPU()); err == nil || !strings.Contains(err.Error(), "x64") {
		t.Fatalf("Compile of a float64 graph: err = %v, want an error naming the node", err)
	}
}

func TestWriteAndReadCheckSizes(t *testing.T) {
	g := gorgonia.NewGraph()
	x := input(g, "x", 2, 3)
	y := must(nn.Scale(x, 2))
	p, err := engine.Compile(gorgonia.Nodes{y}, engine.NewCPU())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Write(x, make([]float32, 5)); err == nil {
		t.Fatal("Write of 5 values into a 2x3 input succeeded")
	}
	if err := p.Write(x, []float32{1, 2, 3, 4, 5, 6}); err != nil {
		t.Fatal(err)
	}
	if err := p.Run(); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, 6)
	if err := p.Read(y, got); err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if v != 2*float32(i+1) {
			t.Fatalf("y = %v, want 2x", got)
		}
	}
}

// An input that the plan reaches after an intermediate has died must keep a
// buffer of its own: its value is written once, not on every run.
func TestLateInputKeepsItsValue(t *testing.T) {
	g := gorgonia.NewGraph()
	x := input(g, "x", 2, 4)
	y := input(g, "y", 1, 4)
	a := must(nn.Scale(x, 2))
	b := must(nn.SumTo(a, tensor.Shape{1, 4})) // a dies here
	h := must(nn.Binary(nn.Add, b, y))
	compareWithTape(t, gorgonia.Nodes{h})
}

// noAlloc is a CPU backend that fails any allocation.
type noAlloc struct{ *engine.CPU }

func (noAlloc) Alloc(n, scratch int) error {
	return fmt.Errorf("allocating %d + %d floats", n, scratch)
}

// PlanBytes finds what Compile will take, with scratch, without allocating:
// on a backend that refuses every allocation it still answers, and the
// answer equals the compiled plan's Bytes.
func TestPlanBytesMatchesCompile(t *testing.T) {
	g := gorgonia.NewGraph()
	x := input(g, "x", 2, 3, 8, 8)
	w := input(g, "w", 4, 3, 3, 3)
	b := input(g, "b", 4)
	y := must(nn.Conv2d(x, w, b, 1, 1)) // im2col needs scratch
	loss := must(nn.Mean(must(nn.Activate(y, nn.SiLU, 0))))
	grads, err := gorgonia.Grad(loss, x, w, b)
	if err != nil {
		t.Fatal(err)
	}
	outputs := append(gorgonia.Nodes{loss}, grads...)
	got, err := engine.PlanBytes(noAlloc{engine.NewCPU()}, outputs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := engine.Compile(outputs, noAlloc{engine.NewCPU()}); err == nil || !strings.Contains(err.Error(), "allocating") {
		t.Fatalf("Compile on a backend that cannot allocate: err = %v", err)
	}
	p, err := engine.Compile(outputs, engine.NewCPU())
	if err != nil {
		t.Fatal(err)
	}
	if got != p.Bytes() || got <= 4*int64(2*3*8*8+4*3*3*3+4) {
		t.Fatalf("PlanBytes = %d, compiled plan's Bytes = %d (want equal, and more than the inputs)", got, p.Bytes())
	}
}

// Plans compiled together share their inputs: a parameter updated in one
// plan's memory is what the other reads, and each plan keeps its outputs
// when the other runs. Each plan's values are those of the graph run
// alone.
func TestSharedPlansShareInputs(t *testing.T) {
	g := gorgonia.NewGraph()
	w := input(g, "w", 3, 4)
	x := input(g, "x", 2, 4)
	y := must(nn.Linear(x, w, input(g, "b", 3)))
	lossA := must(nn.Mean(must(nn.Activate(y, nn.Tanh, 0))))
	gradA, err := gorgonia.Grad(lossA, w)
	if err != nil {
		t.Fatal(err)
	}
	lossB := must(nn.Sum(must(nn.Binary(nn.Mul, w, w))))
	cpu := engine.NewCPU()
	plans, err := engine.CompileShared(cpu, gorgonia.Nodes{lossA, gradA[0]}, gorgonia.Nodes{lossB})
	if err != nil {
		t.Fatal(err)
	}
	a, b := plans[0], plans[1]
	sa, okA := a.Slot(w)
	sb, okB := b.Slot(w)
	if !okA || !okB || sa.Offset != sb.Offset {
		t.Fatalf("w lives at %d in one plan and %d in the other", sa.Offset, sb.Offset)
	}
	view := cpu.View(sa)
	for i := range view {
		view[i] *= 0.5 // an optimiser's in-place update
	}
	if err := a.Run(); err != nil {
		t.Fatal(err)
	}
	var before, after [1]float32
	if err := a.Read(lossA, before[:]); err != nil {
		t.Fatal(err)
	}
	if err := b.Run(); err != nil {
		t.Fatal(err)
	}
	if err := a.Read(lossA, after[:]); err != nil {
		t.Fatal(err)
	}
	if before != after {
		t.Fatalf("plan A's loss changed from %v to %v when plan B ran", before, after)
	}
	var got [1]float32
	if err := b.Read(lossB, got[:]); err != nil {
		t.Fatal(err)
	}
	var want float64
	for _, v := range view {
		want += float64(v) * float64(v)
	}
	if math.Abs(float64(got[0])-want) > 1e-5*want {
		t.Fatalf("plan B's sum of squares of the halved w = %v, want %v", got[0], want)
	}
	bytes, err := engine.PlanBytes(noAlloc{engine.NewCPU()}, gorgonia.Nodes{lossA, gradA[0]}, gorgonia.Nodes{lossB})
	if err != nil {
		t.Fatal(err)
	}
	if bytes != a.Bytes() || bytes != b.Bytes() {
		t.Fatalf("PlanBytes = %d; the shared plans' Bytes = %d and %d", bytes, a.Bytes(), b.Bytes())
	}
}
