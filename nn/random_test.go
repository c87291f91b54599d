package nn

import (
	"math"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/internal/philox"
)

// randomRun binds a random op's float64 kernel over an input p of n
// elements once and returns a function that runs it and returns a copy of
// the output.
func randomRun(bind func(*engine.Call[float64]) func(), p []float64) func() []float64 {
	n := len(p)
	c := &engine.Call[float64]{
		Out: engine.Tensor[float64]{Shape: tensor.Shape{n}, Data: make([]float64, n)},
		In:  []engine.Tensor[float64]{{Shape: tensor.Shape{n}, Data: p}},
	}
	run := bind(c)
	return func() []float64 {
		run()
		return append([]float64(nil), c.Out.Data...)
	}
}

func normalRun(n int, stream uint32, rng *RNG) func() []float64 {
	return randomRun(func(c *engine.Call[float64]) func() { return bindNormalLike(keyed{stream, rng}, c) }, make([]float64, n))
}

// NormalLike's float64 output is philox.Normals' draw, element by element
// (the sde package's noise), its float32 output that rounded, and its
// input's values do not matter.
func TestNormalLikeIsPhiloxNormals(t *testing.T) {
	const n = 4*grain + 3 // split across goroutines; a partial block at the end
	f := func(in []*gorgonia.Node) (*gorgonia.Node, error) { return NormalLike(in[0], 5, testRNG) }
	x64 := make([]float64, n)
	for i := range x64 {
		x64[i] = float64(i)
	}
	got64 := evalOn(t, f, tensor.New(tensor.WithShape(n), tensor.WithBacking(x64)))
	got32 := evalOn(t, f, tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(n)))
	g := philox.NewNormals(testRNG.Seed, 5, testRNG.Step)
	for i := range n {
		want := g.At(i)
		if got64[i] != want || got32[i] != float64(float32(want)) {
			t.Fatalf("element %d: %v (float64), %v (float32), want %v", i, got64[i], got32[i], want)
		}
	}
}

// The mean, variance and lag-one correlation of a large draw, each within
// 5 standard errors of N(0, 1)'s.
func TestNormalLikeMoments(t *testing.T) {
	const n = 1 << 20
	z := normalRun(n, 1, &RNG{Seed: 99, Step: 3})()
	var s, ss, lag float64
	for i, v := range z {
		s += v
		ss += v * v
		if i > 0 {
			lag += v * z[i-1]
		}
	}
	se := 5 / math.Sqrt(n)
	if m := s / n; math.Abs(m) > se {
		t.Errorf("mean %v, want 0 within %v", m, se)
	}
	if v := ss/n - (s/n)*(s/n); math.Abs(v-1) > math.Sqrt2*se {
		t.Errorf("variance %v, want 1 within %v", v, math.Sqrt2*se)
	}
	if c := lag / (n - 1); math.Abs(c) > se {
		t.Errorf("lag-one correlation %v, want 0 within %v", c, se)
	}
}

func correlation(a, b []float64) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += a[i] * b[i]
		aa += a[i] * a[i]
		bb += b[i] * b[i]
	}
	return ab / math.Sqrt(aa*bb)
}

// The draw is fixed by (Seed, Step, stream), the kernel reads Step each
// time it runs, and changing any of them gives an uncorrelated draw.
func TestNormalLikeKeying(t *testing.T) {
	const n = 1 << 14
	rng := &RNG{Seed: 42}
	run := normalRun(n, 0, rng)
	step0 := run()
	if c := correlation(step0, run()); c != 1 {
		t.Fatalf("same step, same stream: correlation %v, want 1", c)
	}
	independent := func(what string, z []float64) {
		if c := correlation(step0, z); math.Abs(c) > 5/math.Sqrt(n) {
			t.Errorf("%s: correlation %v with step 0, want about 0", what, c)
		}
	}
	rng.Step = 1 // the kernel bound above must see this
	independent("step 1", run())
	rng.Step = 1 << 32
	independent("step 2^32", run())
	rng.Step = 0
	independent("stream 1", normalRun(n, 1, rng)())
	rng.Seed = 43
	independent("seed 43", run())
	rng.Step, rng.Seed = 0, 42
	if c := correlation(step0, run()); c != 1 {
		t.Fatalf("back to step 0: correlation %v, want 1", c)
	}
}

// No gradient flows into NormalLike's input, while gradients through its
// output are right: the reparameterised sample mu + exp(s) z of a VAE,
// checked against finite differences in mu and s.
func TestNormalLikeGradient(t *testing.T) {
	checkOp(t, []tensor.Shape{{3, 5}, {3, 5}}, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
		z, err := NormalLike(in[0], 2, testRNG)
		if err != nil {
			return nil, err
		}
		sd, err := Activate(in[1], Exp, 0)
		if err == nil {
			z, err = Binary(Mul, sd, z)
		}
		if err != nil {
			return nil, err
		}
		return Binary(Add, in[0], z)
	})
	// An input reached only through the draw has no gradient at all.
	g := gorgonia.NewGraph()
	x := gorgonia.NewTensor(g, tensor.Float64, 1, gorgonia.WithShape(4), gorgonia.WithName("x"))
	z, err := NormalLike(x, 0, testRNG)
	if err != nil {
		t.Fatal(err)
	}
	cost, err := Sum(z)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gorgonia.Grad(cost, x); err == nil {
		t.Fatal("Grad of a cost by an input read only through NormalLike succeeded")
	}
}

func bernoulliRun(p []float64, stream uint32, rng *RNG) func() []float64 {
	return randomRun(func(c *engine.Call[float64]) func() { return bindBernoulli(keyed{stream, rng}, c) }, p)
}

// Bernoulli's draw is 1 exactly where the dropout-keyed uniform is below
// p, in both precisions, and p <= 0 and p >= 1 give 0 and 1.
func TestBernoulliIsKeyedUniform(t *testing.T) {
	const n = 4*grain + 3
	p64, p32 := make([]float64, n), make([]float32, n)
	for i := range p64 {
		p32[i] = float32(i%13)/10 - 0.1 // -0.1 ... 1.1
		p64[i] = float64(p32[i])
	}
	f := func(in []*gorgonia.Node) (*gorgonia.Node, error) { return Bernoulli(in[0], 9, testRNG) }
	got64 := evalOn(t, f, tensor.New(tensor.WithShape(n), tensor.WithBacking(p64)))
	got32 := evalOn(t, f, tensor.New(tensor.WithShape(n), tensor.WithBacking(p32)))
	key := philox.Key(testRNG.Seed)
	for i := range n {
		r := philox.Block(philox.Counter(i/4, 9, testRNG.Step), key)
		want := 0.0
		if philox.Uniform24(r[i%4]) < p64[i] {
			want = 1
		}
		if (p64[i] <= 0 && want != 0) || (p64[i] >= 1 && want != 1) {
			t.Fatalf("element %d: p %v drew %v", i, p64[i], want)
		}
		if got64[i] != want || got32[i] != want {
			t.Fatalf("element %d (p %v): %v (float64), %v (float32), want %v", i, p64[i], got64[i], got32[i], want)
		}
	}
}

// Each p's frequency of ones is p within 5 standard errors.
func TestBernoulliFrequencies(t *testing.T) {
	ps := []float64{0, 0.01, 0.1, 0.3, 0.5, 0.77, 0.99, 1}
	const per = 1 << 15
	p := make([]float64, len(ps)*per)
	for i := range p {
		p[i] = ps[i%len(ps)] // interleaved, so every p sees every lane
	}
	out := bernoulliRun(p, 4, &RNG{Seed: 5, Step: 8})()
	ones := make([]float64, len(ps))
	for i, v := range out {
		ones[i%len(ps)] += v
	}
	for k, pk := range ps {
		f, sd := ones[k]/per, math.Sqrt(pk*(1-pk)/per)
		if math.Abs(f-pk) > 5*sd {
			t.Errorf("p = %v: frequency %v over %d draws, want within %v", pk, f, per, 5*sd)
		}
	}
}

// The draw is fixed by (Seed, Step, stream); a new step or stream draws
// anew: independent draws at p = 0.5 agree on about half of the elements.
func TestBernoulliKeying(t *testing.T) {
	const n = 4096
	p := make([]float64, n)
	for i := range p {
		p[i] = 0.5
	}
	rng := &RNG{Seed: 42}
	run := bernoulliRun(p, 0, rng)
	step0 := run()
	if a := agreement(step0, run()); a != 1 {
		t.Fatalf("same step, same stream: draws agree on %v", a)
	}
	independent := func(what string, m []float64) {
		if a := agreement(step0, m); a < 0.45 || a > 0.55 {
			t.Errorf("%s: draws agree on %v of elements, want about 0.5", what, a)
		}
	}
	rng.Step = 1
	independent("step 1", run())
	rng.Step = 0
	independent("stream 1", bernoulliRun(p, 1, rng)())
	rng.Seed = 43
	independent("seed 43", run())
}

// Binarised inputs pass no gradient to p, and the rest of the graph still
// differentiates: sum(w * (Bernoulli(sigmoid(a)) * b + a)) by a and b
// against finite differences (a's only through its second term; a step of
// the differences flips a draw with probability about 1e-6).
func TestBernoulliGradient(t *testing.T) {
	checkOp(t, []tensor.Shape{{4, 6}, {4, 6}}, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
		p, err := Activate(in[0], Sigmoid, 0)
		if err != nil {
			return nil, err
		}
		b, err := Bernoulli(p, 3, testRNG)
		if err != nil {
			return nil, err
		}
		if b, err = Binary(Mul, b, in[1]); err != nil {
			return nil, err
		}
		return Binary(Add, b, in[0])
	})
}

func TestRandomOpsNamesDiffer(t *testing.T) {
	g := gorgonia.NewGraph()
	x := gorgonia.NewTensor(g, tensor.Float32, 2, gorgonia.WithShape(4, 8), gorgonia.WithName("x"))
	a, _ := NormalLike(x, 1, testRNG)
	b, _ := NormalLike(x, 2, testRNG)
	c, _ := Bernoulli(x, 1, testRNG)
	if a == b || a == c || a.Op().Hashcode() == b.Op().Hashcode() || a.Op().Hashcode() == c.Op().Hashcode() {
		t.Fatalf("random ops of different kind or stream share a hash: %v, %v, %v", a.Op(), b.Op(), c.Op())
	}
}

func TestRandomOpsRejectBadArguments(t *testing.T) {
	g := gorgonia.NewGraph()
	x := gorgonia.NewTensor(g, tensor.Float32, 2, gorgonia.WithShape(4, 8), gorgonia.WithName("x"))
	huge := gorgonia.NewTensor(g, tensor.Float32, 3, gorgonia.WithShape(1<<12, 1<<12, 1<<11), gorgonia.WithName("huge"))
	for _, c := range []struct {
		x    *gorgonia.Node
		rng  *RNG
		want string
	}{{x, nil, "(4, 8)"}, {huge, testRNG, "(4096, 4096, 2048)"}} {
		for op, f := range map[string]func(*gorgonia.Node, uint32, *RNG) (*gorgonia.Node, error){"NormalLike": NormalLike, "Bernoulli": Bernoulli} {
			if _, err := f(c.x, 0, c.rng); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), op) {
				t.Errorf("%s(%v, rng %v): error %v, want one naming the op and %s", op, c.x.Shape(), c.rng, err, c.want)
			}
		}
	}
}

func TestRandomKernelsDoNotAllocate(t *testing.T) {
	s := tensor.Shape{4, 32, 16, 16}
	k := keyed{1, testRNG}
	assertNoAllocs(t, "NormalLike", bindRandom(&normalLike{keyed: k}, s, s))
	assertNoAllocs(t, "Bernoulli", bindRandom(&bernoulli{keyed: k}, s, s))
}
