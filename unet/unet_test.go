package unet

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/nn"
)

func numParams(ps []*gorgonia.Node) int {
	n := 0
	for _, p := range ps {
		n += p.Shape().TotalSize()
	}
	return n
}

// The counts are REFERENCE_UNET.md's: a different count is a different network.
func TestParameterCounts(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want int
	}{{MNIST, 6469889}, {CIFAR10, 58687747}} {
		net, err := Build(gorgonia.NewGraph(), c.cfg, 1, false, 1)
		if err != nil {
			t.Fatal(err)
		}
		if got := numParams(net.Params); got != c.want {
			t.Errorf("%s: %d parameters, want %d", c.cfg.Name, got, c.want)
		}
		if got := c.cfg.ParamCount(); got != int64(c.want) {
			t.Errorf("%s: ParamCount = %d, want %d", c.cfg.Name, got, c.want)
		}
		seen := map[string]bool{}
		for _, p := range net.Params {
			if seen[p.Name()] {
				t.Errorf("%s: parameter name %q used twice", c.cfg.Name, p.Name())
			}
			seen[p.Name()] = true
		}
		if !seen["down.0.res.1.conv1.weight"] {
			t.Errorf("%s: no parameter down.0.res.1.conv1.weight", c.cfg.Name)
		}
	}
}

// ParamCount follows Build on other shapes too (no attention, other
// multipliers, RGB), and counts widths whose parameters Build could not
// allocate without overflowing.
func TestParamCountWithoutBuilding(t *testing.T) {
	for _, cfg := range []Config{
		{Name: "tiny", Channels: 1, Height: 28, Width: 28, Ch: 16, Mult: []int{1, 2, 2}, NumResBlocks: 1},
		{Name: "rgb", Channels: 3, Height: 16, Width: 16, Ch: 8, Mult: []int{1, 2, 4, 1}, NumResBlocks: 3, AttnRes: []int{8, 2}},
	} {
		net, err := Build(gorgonia.NewGraph(), cfg, 1, true, 1)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := cfg.ParamCount(), int64(numParams(net.Params)); got != want {
			t.Errorf("%s: ParamCount = %d, Build makes %d", cfg.Name, got, want)
		}
	}
	wide := MNIST
	wide.Ch = 100000
	// The 3x3 convolutions alone are about 9 ch^2 mult^2 each: far beyond 2^32.
	if n := wide.ParamCount(); n < 1e12 {
		t.Errorf("model.ch = 100000: ParamCount = %d, want over 1e12", n)
	}
}

func TestFlopsPerImage(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want float64
	}{{MNIST, 2.208e9}, {CIFAR10, 20.55e9}} {
		if got := c.cfg.FlopsPerImage(); math.Abs(got-c.want) > 0.001*c.want {
			t.Errorf("%s: %.4g FLOP per image, want %.4g", c.cfg.Name, got, c.want)
		}
	}
}

// randomise gives every parameter values of the scale a trained network has,
// so that no gradient is near zero because of DDPM++'s near-zero init.
func randomise(t *testing.T, net *Net, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 3))
	for _, p := range net.Params {
		d := p.Value().Data().([]float32)
		s := p.Shape()
		bound := 1.0
		if s.Dims() > 1 {
			bound = 1 / math.Sqrt(float64(s.TotalSize()/s[0]))
		}
		for i := range d {
			d[i] = float32((2*rng.Float64() - 1) * bound)
		}
	}
}

func setInput(t *testing.T, n *gorgonia.Node, d []float32) {
	if err := gorgonia.Let(n, tensor.New(tensor.WithShape(n.Shape()...), tensor.WithBacking(d))); err != nil {
		t.Fatal(err)
	}
}

// trainingGraph is the score-matching loss of cfg's network on random data,
// with the gradient of every parameter and of the input.
func trainingGraph(t *testing.T, cfg Config, batch int) (*Net, gorgonia.Nodes) {
	g := gorgonia.NewGraph()
	net, err := Build(g, cfg, batch, true, 5)
	if err != nil {
		t.Fatal(err)
	}
	randomise(t, net, 9)
	rng := rand.New(rand.NewPCG(4, 4))
	z := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(net.X.Shape()...), gorgonia.WithName("z"))
	for _, n := range []*gorgonia.Node{net.X, z} {
		d := make([]float32, n.Shape().TotalSize())
		for i := range d {
			d[i] = float32(rng.NormFloat64())
		}
		setInput(t, n, d)
	}
	tv := make([]float32, batch)
	for i := range tv {
		tv[i] = float32(rng.Float64())
	}
	setInput(t, net.T, tv)
	loss, err := nn.MSE(net.Out, z)
	if err != nil {
		t.Fatal(err)
	}
	grads, err := gorgonia.Grad(loss, append([]*gorgonia.Node{net.X}, net.Params...)...)
	if err != nil {
		t.Fatal(err)
	}
	return net, append(gorgonia.Nodes{net.Out, loss}, grads...)
}

// The compiled plan computes what gorgonia's TapeMachine computes on the
// same graph: the network's output, the loss and every gradient.
func TestPlanMatchesTapeMachine(t *testing.T) {
	cfg := MNIST
	cfg.Ch = 32 // the same layout at a quarter of the cost
	net, outputs := trainingGraph(t, cfg, 3)
	net.RNG.Step = 7
	plan, err := engine.Compile(outputs, engine.NewCPU())
	if err != nil {
		t.Fatal(err)
	}
	if err := plan.Run(); err != nil {
		t.Fatal(err)
	}
	m := gorgonia.NewTapeMachine(net.Out.Graph())
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	for _, n := range outputs {
		var want []float32
		switch v := n.Value().(type) {
		case *gorgonia.F32:
			want = []float32{float32(*v)}
		default:
			want = v.Data().([]float32)
		}
		got := make([]float32, len(want))
		if err := plan.Read(n, got); err != nil {
			t.Fatal(err)
		}
		scale := 0.0
		for _, w := range want {
			scale = math.Max(scale, math.Abs(float64(w)))
		}
		if scale == 0 {
			t.Fatalf("%s: all zero; the test would not see a difference", n.Name())
		}
		for i := range want {
			if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*scale {
				t.Fatalf("%s[%d]: plan %g, TapeMachine %g", n.Name(), i, got[i], want[i])
			}
		}
	}
	if n := testing.AllocsPerRun(2, func() { plan.Run() }); n != 0 {
		t.Errorf("Plan.Run of the U-Net step allocates %v times", n)
	}
}

func TestShapeErrorsNameTheLayer(t *testing.T) {
	cfg := MNIST
	cfg.Height, cfg.Width = 30, 30 // 30 -> 15 -> 8 (odd): the skip concat cannot match
	_, err := Build(gorgonia.NewGraph(), cfg, 2, false, 1)
	if err == nil {
		t.Fatal("building a U-Net for 30x30 images succeeded")
	}
	if !strings.Contains(err.Error(), "30x30") {
		t.Fatalf("error %q does not say why", err)
	}
	g := gorgonia.NewGraph()
	b := nn.NewBuilder(g, 1, false)
	x := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(2, 8, 6, 6), gorgonia.WithName("x"))
	y := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(2, 8, 5, 5), gorgonia.WithName("y"))
	b.Concat("up.0.res.0.concat", x, y)
	if err := b.Err(); err == nil || !strings.Contains(err.Error(), "up.0.res.0.concat") || !strings.Contains(err.Error(), "(2, 8, 5, 5)") {
		t.Fatalf("concat of 6x6 and 5x5 maps: err = %v, want the layer and both shapes", err)
	}
}

// TestClassConditional builds the class-conditional network: its
// parameters are ParamCount's (the label embedding among them), and the
// label changes the output where Keep is 1 and not where it is 0.
func TestClassConditional(t *testing.T) {
	cfg := Config{Name: "c", Channels: 1, Height: 8, Width: 8, Ch: 8, Mult: []int{1, 2}, NumResBlocks: 1, NumClasses: 3}
	net, err := Build(gorgonia.NewGraph(), cfg, 2, false, 1)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range net.Params {
		n += p.Shape().TotalSize()
	}
	if int64(n) != cfg.ParamCount() {
		t.Errorf("%d parameters, ParamCount %d", n, cfg.ParamCount())
	}
	plan, err := engine.Compile(gorgonia.Nodes{net.Out}, &engine.CPU{})
	if err != nil {
		t.Fatal(err)
	}
	// Move the output layer off zero so that the label shows.
	for _, p := range net.Params {
		v := make([]float32, p.Shape().TotalSize())
		for i := range v {
			v[i] = float32(0.1 * math.Sin(float64(3*i+len(v))))
		}
		if err := plan.Write(p, v); err != nil {
			t.Fatal(err)
		}
	}
	out := func(labels, keep []float32) []float32 {
		x := make([]float32, 2*64)
		for i := range x {
			x[i] = float32(math.Cos(float64(i)))
		}
		null := []float32{1 - keep[0], 1 - keep[1]}
		for _, in := range []struct {
			n *gorgonia.Node
			v []float32
		}{{net.X, x}, {net.T, []float32{0.5, 0.5}}, {net.Labels, labels}, {net.Keep, keep}, {net.Null, null}} {
			if err := plan.Write(in.n, in.v); err != nil {
				t.Fatal(err)
			}
		}
		if err := plan.Run(); err != nil {
			t.Fatal(err)
		}
		y := make([]float32, 2*64)
		if err := plan.Read(net.Out, y); err != nil {
			t.Fatal(err)
		}
		return y
	}
	a := out([]float32{1, 0, 0, 1, 0, 0}, []float32{1, 0})
	b := out([]float32{0, 1, 0, 0, 1, 0}, []float32{1, 0})
	if slices.Equal(a[:64], b[:64]) {
		t.Error("image 0's label does not change its output")
	}
	if !slices.Equal(a[64:], b[64:]) {
		t.Error("image 1's label changes its output although it is dropped")
	}
}

// A twin has the network's weights under prefixed names, its own inputs,
// and, training with dropout, draws the network's masks: on the same
// input it computes the same output, bit for bit.
func TestTwin(t *testing.T) {
	cfg := Config{Name: "tiny", Channels: 1, Height: 8, Width: 8, Ch: 8, Mult: []int{1, 2}, NumResBlocks: 1, Dropout: 0.5}
	g := gorgonia.NewGraph()
	net, err := Build(g, cfg, 2, true, 5)
	if err != nil {
		t.Fatal(err)
	}
	twin, err := net.Twin(cfg, "target.")
	if err != nil {
		t.Fatal(err)
	}
	if len(twin.Params) != len(net.Params) || twin.X == net.X || twin.X.Name() != "target.x" || twin.T.Name() != "target.t" {
		t.Fatalf("the twin's inputs %s, %s and %d parameters", twin.X.Name(), twin.T.Name(), len(twin.Params))
	}
	for i, p := range net.Params {
		q := twin.Params[i]
		if q.Name() != "target."+p.Name() || !slices.Equal(q.Value().Data().([]float32), p.Value().Data().([]float32)) {
			t.Fatalf("parameter %s: the twin's %s differs", p.Name(), q.Name())
		}
	}
	plan, err := engine.Compile(gorgonia.Nodes{net.Out, twin.Out}, engine.NewCPU())
	if err != nil {
		t.Fatal(err)
	}
	x, tt := make([]float32, 2*64), []float32{0.3, -0.2}
	for i := range x {
		x[i] = float32(math.Sin(float64(i)))
	}
	for _, in := range []struct {
		n *gorgonia.Node
		v []float32
	}{{net.X, x}, {twin.X, x}, {net.T, tt}, {twin.T, tt}} {
		if err := plan.Write(in.n, in.v); err != nil {
			t.Fatal(err)
		}
	}
	out := func(n *gorgonia.Node) []float32 {
		v := make([]float32, 2*64)
		if err := plan.Read(n, v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	// The convolutions after the dropout start at 1e-10 (DDPM++'s zero
	// init), which would hide the masks: both networks get the same
	// weights of order 1/sqrt(fan-in) instead.
	for i, p := range net.Params {
		w := make([]float32, p.Shape().TotalSize())
		for j := range w {
			w[j] = float32(math.Cos(float64(3*j+i))) / float32(math.Sqrt(float64(len(w)/p.Shape()[0])))
		}
		for _, n := range []*gorgonia.Node{p, twin.Params[i]} {
			if err := plan.Write(n, w); err != nil {
				t.Fatal(err)
			}
		}
	}
	net.RNG.Step = 3
	if err := plan.Run(); err != nil {
		t.Fatal(err)
	}
	a, b := out(net.Out), out(twin.Out)
	if !slices.Equal(a, b) {
		t.Fatal("the twin's output differs from the network's on the same input")
	}
	net.RNG.Step = 4
	if err := plan.Run(); err != nil {
		t.Fatal(err)
	}
	if c := out(twin.Out); slices.Equal(c, b) || !slices.Equal(c, out(net.Out)) {
		t.Fatal("at another step the masks did not change together")
	}
}
