package nn

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/internal/philox"
)

// evalOn runs f forward on inputs holding vals and returns its output.
func evalOn(t *testing.T, f graphFn, vals ...*tensor.Dense) []float64 {
	t.Helper()
	g := gorgonia.NewGraph()
	in := make([]*gorgonia.Node, len(vals))
	for i, v := range vals {
		in[i] = gorgonia.NewTensor(g, v.Dtype(), v.Dims(), gorgonia.WithShape(v.Shape()...),
			gorgonia.WithName("in"+string(rune('0'+i))), gorgonia.WithValue(v))
	}
	out, err := f(in)
	if err != nil {
		t.Fatalf("building graph: %v", err)
	}
	m := gorgonia.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatalf("TapeMachine: %v", err)
	}
	return append([]float64(nil), f64s(t, out.Value())...)
}

// bindRandom binds o's float32 kernel to random inputs of the given shapes,
// as a compiled plan would.
func bindRandom(o engine.CPUOp, out tensor.Shape, in ...tensor.Shape) func() {
	rng := rand.New(rand.NewPCG(1, 2))
	c := &engine.Call[float32]{Out: engine.Tensor[float32]{Shape: out, Data: make([]float32, max(out.TotalSize(), 1))}}
	for _, s := range in {
		d := make([]float32, max(s.TotalSize(), 1))
		for i := range d {
			d[i] = float32(rng.NormFloat64())
		}
		c.In = append(c.In, engine.Tensor[float32]{Shape: s, Data: d})
	}
	c.Scratch = make([]float32, o.ScratchSize(append([]tensor.Shape(nil), in...)))
	return o.BindCPU(c)
}

func assertNoAllocs(t *testing.T, what string, run func()) {
	t.Helper()
	run() // the first call starts par's workers
	if n := testing.AllocsPerRun(5, run); n != 0 {
		t.Errorf("%s: %v allocations per call", what, n)
	}
}

var testRNG = &RNG{Seed: 0x0123456789abcdef, Step: 1<<32 + 5} // Step uses both halves

func dropoutOf(p float64, stream uint32, rng *RNG) graphFn {
	return func(in []*gorgonia.Node) (*gorgonia.Node, error) { return Dropout(in[0], p, stream, rng) }
}

// dropoutMask is the mask spelled out with plain float64 arithmetic:
// 1/(1-p) where element i's uniform is at least p, else 0.
func dropoutMask(n int, p float64, stream uint32, rng *RNG) []float64 {
	key := philox.Key(rng.Seed)
	m := make([]float64, n)
	for i := range m {
		r := philox.Block(philox.Counter(i/4, stream, rng.Step), key)
		if philox.Uniform24(r[i%4]) >= p {
			m[i] = 1 / (1 - p)
		}
	}
	return m
}

func TestDropoutGradient(t *testing.T) {
	// 105 elements: the last philox block is partly used.
	checkOp(t, []tensor.Shape{{3, 5, 7}}, dropoutOf(0.3, 2, testRNG))
}

func TestDropoutAgainstMask(t *testing.T) {
	s := tensor.Shape{3, 5, 7}
	for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
		checkAgainst(t, dt, []tensor.Shape{s}, dropoutOf(0.3, 2, testRNG), func(in []*gorgonia.Node) (*gorgonia.Node, error) {
			m := dropoutMask(s.TotalSize(), 0.3, 2, testRNG)
			mask := tensor.New(tensor.WithShape(s...), tensor.WithBacking(m))
			if dt == tensor.Float32 {
				m32 := make([]float32, len(m))
				for i, v := range m {
					m32[i] = float32(v)
				}
				mask = tensor.New(tensor.WithShape(s...), tensor.WithBacking(m32))
			}
			return gorgonia.HadamardProd(in[0], gorgonia.NewConstant(mask))
		}, 1e-7)
	}
}

// TestDropThreshold checks the kernel's integer keep test against the
// uniform's, near the threshold and at random.
func TestDropThreshold(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, p := range []float64{0, 1e-9, 0.1, 0.25, 0.3, 0.5, 1 - 0x1p-24, 0.9999999} {
		thr := dropThreshold(p)
		for k := range 2000 {
			r := rng.Uint32()
			if k < 6 { // words whose top 24 bits are at or next to thr
				r = (thr+uint32(k%3)-1)<<8 | uint32(k)
			}
			if got, want := r>>8 >= thr, philox.Uniform24(r) >= p; got != want {
				t.Fatalf("p=%v r=%#x: integer test %v, uniform test %v", p, r, got, want)
			}
		}
	}
}

func TestDropoutKeptFraction(t *testing.T) {
	const n, p = 1 << 20, 0.1
	out := evalOn(t, dropoutOf(p, 0, testRNG), tensor.Ones(tensor.Float32, n))
	mask := dropoutMask(n, p, 0, testRNG)
	kept := 0
	for i, v := range out {
		if (v != 0) != (mask[i] != 0) {
			t.Fatalf("element %d is %v, mask %v", i, v, mask[i])
		}
		if v != 0 {
			kept++
			if v != float64(float32(1/(1-p))) {
				t.Fatalf("kept element is %v, want 1/(1-p)", v)
			}
		}
	}
	sd := math.Sqrt(n * p * (1 - p))
	if d := math.Abs(float64(kept) - n*(1-p)); d > 5*sd {
		t.Fatalf("kept %d of %d, want %v within %v", kept, n, n*(1-p), 5*sd)
	}
}

// dropoutRun binds a dropout kernel over ones once and returns a function
// that runs it and returns a copy of the output.
func dropoutRun(n int, p float64, stream uint32, rng *RNG) func() []float64 {
	d := drop{p, stream, rng}
	c := &engine.Call[float64]{
		Out: engine.Tensor[float64]{Shape: tensor.Shape{n}, Data: make([]float64, n)},
		In:  []engine.Tensor[float64]{{Shape: tensor.Shape{n}, Data: make([]float64, n)}},
	}
	for i := range c.In[0].Data {
		c.In[0].Data[i] = 1
	}
	run := bindDrop(d, c)
	return func() []float64 {
		run()
		return append([]float64(nil), c.Out.Data...)
	}
}

func agreement(a, b []float64) float64 {
	same := 0
	for i := range a {
		if a[i] == b[i] {
			same++
		}
	}
	return float64(same) / float64(len(a))
}

// TestDropoutMaskChanges checks that the mask is fixed by (Seed, Step,
// stream) and that Step is read each time the kernel runs. Independent masks
// with p = 0.5 agree on about half of the elements.
func TestDropoutMaskChanges(t *testing.T) {
	const n, p = 4096, 0.5
	rng := &RNG{Seed: 42}
	run := dropoutRun(n, p, 0, rng)
	step0 := run()
	if a := agreement(step0, run()); a != 1 {
		t.Fatalf("same step, same stream: masks agree on %v", a)
	}
	independent := func(what string, m []float64) {
		if a := agreement(step0, m); a < 0.45 || a > 0.55 {
			t.Errorf("%s: masks agree on %v of elements, want about 0.5", what, a)
		}
	}
	rng.Step = 1 // the kernel bound above must see this
	independent("step 1", run())
	rng.Step = 1 << 32
	independent("step 2^32", run())
	rng.Step = 0
	independent("stream 1", dropoutRun(n, p, 1, rng)())
	rng.Seed = 43
	independent("seed 43", run())
	rng.Seed = 42 << 32
	independent("seed 42<<32", run())
}

// TestDropoutExpectation checks that the output equals the input on
// average over steps, element by element, within 5 standard errors.
func TestDropoutExpectation(t *testing.T) {
	const n, p, steps = 64, 0.2, 4000
	rng := &RNG{Seed: 7}
	run := dropoutRun(n, p, 3, rng)
	mean := make([]float64, n)
	for s := range steps {
		rng.Step = uint64(s)
		for i, v := range run() {
			mean[i] += v / steps
		}
	}
	sd := math.Sqrt(p / (1 - p) / steps) // of the mean, for an input of 1
	for i, m := range mean {
		if math.Abs(m-1) > 5*sd {
			t.Fatalf("element %d: mean output %v over %d steps, want 1 within %v", i, m, steps, 5*sd)
		}
	}
}

func TestDropoutNamesDiffer(t *testing.T) {
	g := gorgonia.NewGraph()
	x := gorgonia.NewTensor(g, tensor.Float32, 2, gorgonia.WithShape(4, 8), gorgonia.WithName("x"))
	a, _ := Dropout(x, 0.1, 1, testRNG)
	b, _ := Dropout(x, 0.1, 2, testRNG)
	c, _ := Dropout(x, 0.2, 1, testRNG)
	if a == b || a == c || a.Op().Hashcode() == b.Op().Hashcode() || a.Op().Hashcode() == c.Op().Hashcode() {
		t.Fatalf("dropout ops with different stream or p share a hash: %v, %v, %v", a.Op(), b.Op(), c.Op())
	}
	if y, err := Dropout(x, 0, 1, testRNG); err != nil || y != x {
		t.Fatalf("Dropout with p=0 = %v, %v; want x itself", y, err)
	}
}

func TestDropoutRejectsBadArguments(t *testing.T) {
	g := gorgonia.NewGraph()
	x := gorgonia.NewTensor(g, tensor.Float32, 2, gorgonia.WithShape(4, 8), gorgonia.WithName("x"))
	for _, c := range []struct {
		p   float64
		rng *RNG
	}{{1, testRNG}, {-0.1, testRNG}, {math.NaN(), testRNG}, {0.1, nil}} {
		if _, err := Dropout(x, c.p, 0, c.rng); err == nil || !strings.Contains(err.Error(), "(4, 8)") {
			t.Errorf("Dropout(p=%v, rng=%v): error %v, want one naming the shape", c.p, c.rng, err)
		}
	}
}

func TestDropoutKernelsDoNotAllocate(t *testing.T) {
	s := tensor.Shape{4, 32, 16, 16}
	d := drop{0.1, 1, testRNG}
	assertNoAllocs(t, "forward", bindRandom(&dropout{drop: d}, s, s))
	assertNoAllocs(t, "grad", bindRandom(&dropoutGrad{drop: d}, s, s))
}
