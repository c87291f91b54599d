package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/engine"
)

var batchNormCases = []tensor.Shape{
	{2, 3, 4, 5},
	{5, 4},       // [N,F], after a linear layer
	{1, 3, 2, 2}, // one sample: statistics over the pixels alone
	{2, 3, 1, 1}, // two values per channel, the fewest there are
}

func batchNormOf(in []*gorgonia.Node) (*gorgonia.Node, error) {
	return BatchNorm(in[0], in[1], in[2], 1e-5)
}

func channelShapes(x tensor.Shape, k int) []tensor.Shape {
	s := []tensor.Shape{x}
	for range k {
		s = append(s, tensor.Shape{x[1]})
	}
	return s
}

func TestBatchNormGradient(t *testing.T) {
	for _, x := range batchNormCases {
		t.Run(fmt.Sprint(x), func(t *testing.T) { checkOp(t, channelShapes(x, 2), batchNormOf) })
	}
}

// Shapes large enough for the kernels to split across cores.
func TestBatchNormLarge(t *testing.T) {
	for _, x := range []tensor.Shape{{16, 8, 16, 16}, {512, 96}} {
		t.Run(fmt.Sprint(x), func(t *testing.T) { checkDirectional(t, channelShapes(x, 2), batchNormOf) })
	}
}

// bnReference is torch's training-mode batch norm written out in float64
// loops: each channel's mean and biased variance over samples and pixels.
func bnReference(x, gamma, beta []float64, xs tensor.Shape, eps float64) (y, mean, unbiased []float64) {
	l := bnLayoutOf(xs)
	y = make([]float64, len(x))
	mean, unbiased = make([]float64, l.c), make([]float64, l.c)
	for ch := range l.c {
		var vals []float64
		for i := range l.n {
			vals = append(vals, x[(i*l.c+ch)*l.s:][:l.s]...)
		}
		var s float64
		for _, v := range vals {
			s += v
		}
		mu := s / float64(len(vals))
		var ss float64
		for _, v := range vals {
			ss += (v - mu) * (v - mu)
		}
		mean[ch], unbiased[ch] = mu, ss/float64(len(vals)-1)
		for i := range l.n {
			for k := range l.s {
				j := (i*l.c+ch)*l.s + k
				y[j] = gamma[ch]*(x[j]-mu)/math.Sqrt(ss/float64(len(vals))+eps) + beta[ch]
			}
		}
	}
	return y, mean, unbiased
}

// BatchNorm's output and ChannelMoments' statistics against the loops, in
// both precisions, on inputs with a channel offset and scale.
func TestBatchNormAndMomentsAgainstLoops(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, xs := range append(batchNormCases, tensor.Shape{7, 5, 3, 6}) {
		c := xs[1]
		x, gamma, beta := make([]float64, xs.TotalSize()), make([]float64, c), make([]float64, c)
		for i := range x {
			x[i] = 3*rng.NormFloat64() + float64(i%c) // per-pixel channel pattern for [N,F]
		}
		for i := range gamma {
			gamma[i], beta[i] = rng.NormFloat64(), rng.NormFloat64()
		}
		y, mean, unbiased := bnReference(x, gamma, beta, xs, 1e-5)
		for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
			vals := []*tensor.Dense{denseOf(dt, xs, x), denseOf(dt, tensor.Shape{c}, gamma), denseOf(dt, tensor.Shape{c}, beta)}
			tol := 1e-12
			if dt == tensor.Float32 {
				tol = 1e-5
			}
			got := evalOn(t, batchNormOf, vals...)
			assertClose(t, fmt.Sprint("BatchNorm ", xs, dt), got, y, tol)
			for k, want := range [][]float64{mean, unbiased} {
				got := evalOn(t, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
					m, v, err := ChannelMoments(in[0])
					return []*gorgonia.Node{m, v}[k], err
				}, vals[0])
				assertClose(t, fmt.Sprint("ChannelMoments ", k, xs, dt), got, want, tol)
			}
		}
	}
}

// denseOf is v as a tensor of dtype dt.
func denseOf(dt tensor.Dtype, s tensor.Shape, v []float64) *tensor.Dense {
	if dt == tensor.Float32 {
		d := make([]float32, len(v))
		for i, x := range v {
			d[i] = float32(x)
		}
		return tensor.New(tensor.WithShape(s...), tensor.WithBacking(d))
	}
	return tensor.New(tensor.WithShape(s...), tensor.WithBacking(append([]float64(nil), v...)))
}

// Float32 inputs far from zero keep their variance: the statistics are
// taken in float64 around the mean.
func TestBatchNormLargeMean(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 7))
	s := tensor.Shape{4, 2, 8, 8}
	x32, x64 := make([]float32, s.TotalSize()), make([]float64, s.TotalSize())
	for i := range x64 {
		x32[i] = float32(1000 + rng.NormFloat64())
		x64[i] = float64(x32[i]) - 1000 // exact
	}
	ones := func(dt tensor.Dtype) *tensor.Dense { return tensor.Ones(dt, 2) }
	zeros := func(dt tensor.Dtype) *tensor.Dense { return tensor.New(tensor.Of(dt), tensor.WithShape(2)) }
	got := evalOn(t, batchNormOf, tensor.New(tensor.WithShape(s...), tensor.WithBacking(x32)), ones(tensor.Float32), zeros(tensor.Float32))
	want := evalOn(t, batchNormOf, tensor.New(tensor.WithShape(s...), tensor.WithBacking(x64)), ones(tensor.Float64), zeros(tensor.Float64))
	assertClose(t, "float32 BatchNorm of 1000+x", got, want, 1e-4)
}

// The moments feed running averages only: differentiating through them is
// an error that names the op.
// So does sampling's BatchNormInference.
func TestMomentsAndInferenceHaveNoGradient(t *testing.T) {
	g := gorgonia.NewGraph()
	x := gorgonia.NewTensor(g, tensor.Float64, 2, gorgonia.WithShape(4, 3), gorgonia.WithName("x"))
	c := gorgonia.NewTensor(g, tensor.Float64, 1, gorgonia.WithShape(3), gorgonia.WithName("c"))
	m, _, err := ChannelMoments(x)
	if err != nil {
		t.Fatal(err)
	}
	y, err := BatchNormInference(x, c, c, c, c, 1e-5)
	if err != nil {
		t.Fatal(err)
	}
	for name, n := range map[string]*gorgonia.Node{"ChannelMoments": m, "BatchNormInference(eps=1e-05)": y} {
		cost, err := Sum(n)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := gorgonia.Grad(cost, x); err == nil || !strings.Contains(err.Error(), "the gradient of "+name) {
			t.Errorf("Grad through %s: error %v, want one naming it", name, err)
		}
	}
}

// Eval mode is the affine normalisation with the given statistics; given
// the batch's own mean and biased variance it is training mode's output.
func TestBatchNormInferenceAgainstClosedForm(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	for _, xs := range []tensor.Shape{{3, 4, 2, 5}, {6, 4}} {
		l := bnLayoutOf(xs)
		x, gamma, beta := make([]float64, xs.TotalSize()), make([]float64, l.c), make([]float64, l.c)
		mean, variance := make([]float64, l.c), make([]float64, l.c)
		for i := range x {
			x[i] = rng.NormFloat64()
		}
		for i := range gamma {
			gamma[i], beta[i], mean[i], variance[i] = rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64(), rng.ExpFloat64()
		}
		const eps = 1e-5
		f := func(in []*gorgonia.Node) (*gorgonia.Node, error) {
			return BatchNormInference(in[0], in[1], in[2], in[3], in[4], eps)
		}
		ch := tensor.Shape{l.c}
		for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
			got := evalOn(t, f, denseOf(dt, xs, x), denseOf(dt, ch, gamma), denseOf(dt, ch, beta), denseOf(dt, ch, mean), denseOf(dt, ch, variance))
			want := make([]float64, len(x))
			for j := range x {
				c := j / l.s % l.c
				want[j] = gamma[c]*(x[j]-mean[c])/math.Sqrt(variance[c]+eps) + beta[c]
			}
			tol := 1e-12
			if dt == tensor.Float32 {
				tol = 1e-5
			}
			assertClose(t, fmt.Sprint("BatchNormInference ", xs, dt), got, want, tol)
		}
		// The batch's statistics (biased: unbiased*(m-1)/m) give BatchNorm's y.
		y, bm, unbiased := bnReference(x, gamma, beta, xs, eps)
		for c := range unbiased {
			unbiased[c] *= float64(l.m()-1) / float64(l.m())
		}
		got := evalOn(t, f, denseOf(tensor.Float64, xs, x), denseOf(tensor.Float64, ch, gamma), denseOf(tensor.Float64, ch, beta),
			denseOf(tensor.Float64, ch, bm), denseOf(tensor.Float64, ch, unbiased))
		assertClose(t, fmt.Sprint("BatchNormInference with the batch's statistics ", xs), got, y, 1e-12)
	}
}

func TestBatchNormRejectsBadArguments(t *testing.T) {
	g := gorgonia.NewGraph()
	node := func(name string, s ...int) *gorgonia.Node {
		return gorgonia.NewTensor(g, tensor.Float32, len(s), gorgonia.WithShape(s...), gorgonia.WithName(name))
	}
	x, g6, g5 := node("x", 2, 6, 4, 4), node("g6", 6), node("g5", 5)
	for _, c := range []struct {
		x, gamma, beta *gorgonia.Node
		eps            float64
		want           []string
	}{
		{x, g5, g6, 1e-5, []string{"(2, 6, 4, 4)", "(5)", "[6]"}},
		{x, g6, g5, 1e-5, []string{"(2, 6, 4, 4)", "(5)", "[6]"}},
		{node("x3", 2, 6, 4), g6, g6, 1e-5, []string{"(2, 6, 4)"}},
		{node("x1", 1, 6), g6, g6, 1e-5, []string{"(1, 6)", "1 value per channel"}},
		{x, g6, g6, 0, []string{"(2, 6, 4, 4)", "eps"}},
		{x, g6, g6, math.NaN(), []string{"(2, 6, 4, 4)", "eps"}},
	} {
		_, err := BatchNorm(c.x, c.gamma, c.beta, c.eps)
		if err == nil {
			t.Fatalf("BatchNorm(%v, %v, %v, %v) succeeded", c.x.Shape(), c.gamma.Shape(), c.beta.Shape(), c.eps)
		}
		for _, w := range append(c.want, "BatchNorm") {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not mention %q", err, w)
			}
		}
	}
	if _, _, err := ChannelMoments(node("x11", 1, 6, 1, 1)); err == nil || !strings.Contains(err.Error(), "ChannelMoments") {
		t.Errorf("ChannelMoments of one value per channel: error %v", err)
	}
	if _, err := BatchNormInference(x, g6, g6, g6, g5, 1e-5); err == nil || !strings.Contains(err.Error(), "BatchNormInference") || !strings.Contains(err.Error(), "(5)") {
		t.Errorf("BatchNormInference with a [5] variance: error %v", err)
	}
	if _, err := BatchNormInference(x, g6, g6, g6, g6, -1); err == nil || !strings.Contains(err.Error(), "eps") {
		t.Errorf("BatchNormInference with eps -1: error %v", err)
	}
}

func TestBatchNormKernelsDoNotAllocate(t *testing.T) {
	x, ch := tensor.Shape{4, 32, 16, 16}, tensor.Shape{32}
	assertNoAllocs(t, "forward", bindRandom(&batchNorm{eps: 1e-5}, x, x, ch, ch))
	for wrt, out := range []tensor.Shape{x, {1, 2 * ch[0]}} {
		assertNoAllocs(t, "grad "+gnWRT[wrt], bindRandom(&batchNormGrad{eps: 1e-5, wrt: wrt}, out, x, ch, x))
	}
	assertNoAllocs(t, "moments", bindRandom(&channelMoments{}, tensor.Shape{1, 2 * ch[0]}, x))
}

// A generator-like chain of the batch-norm and random ops (forward and
// backward, the moments beside them) through a compiled engine plan, where
// buffers are reused and ops run in place, gives exactly what gorgonia's
// TapeMachine gives.
func TestBatchNormAndRandomOpsInAPlan(t *testing.T) {
	g := gorgonia.NewGraph()
	rng := rand.New(rand.NewPCG(2, 4))
	input := func(name string, s ...int) *gorgonia.Node {
		return gorgonia.NewTensor(g, tensor.Float32, len(s), gorgonia.WithShape(s...), gorgonia.WithName(name),
			gorgonia.WithValue(randTensor(rng, tensor.Float32, s, 1)))
	}
	x, gamma, beta := input("x", 4, 6, 3, 3), input("gamma", 6), input("beta", 6)
	rm, rv := input("runningMean", 6), input("runningLogVar", 6) // the variance is exp(rv) > 0
	must := func(n *gorgonia.Node, err error) *gorgonia.Node {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	key := &RNG{Seed: 3, Step: 11}
	h := must(Binary(Add, x, must(NormalLike(x, 1, key))))
	h = must(BatchNorm(h, gamma, beta, 1e-5))
	h = must(Activate(h, LeakyReLU, 0.2))
	mean, variance, err := ChannelMoments(h)
	if err != nil {
		t.Fatal(err)
	}
	h = must(Binary(Mul, h, must(Bernoulli(must(Activate(h, Sigmoid, 0)), 2, key))))
	loss := must(Mean(must(Binary(Mul, h, h))))
	grads, err := gorgonia.Grad(loss, x, gamma, beta)
	if err != nil {
		t.Fatal(err)
	}
	// Eval mode beside it, as a sampler runs it.
	eval := must(BatchNormInference(x, gamma, beta, rm, must(Activate(rv, Exp, 0)), 1e-5))
	outputs := append(gorgonia.Nodes{loss, mean, variance, eval}, grads...)
	p, err := engine.Compile(outputs, engine.NewCPU())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(); err != nil {
		t.Fatal(err)
	}
	m := gorgonia.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	for _, n := range outputs {
		want := f64s(t, n.Value())
		got := make([]float32, len(want))
		if err := p.Read(n, got); err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if float64(got[i]) != want[i] {
				t.Fatalf("%s[%d]: plan %v, TapeMachine %v", n.Name(), i, got[i], want[i])
			}
		}
	}
}
