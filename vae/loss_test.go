package vae

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/stat"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/nn"
)

// in64 is a float64 input of shape s holding v.
func in64(g *gorgonia.ExprGraph, name string, v []float64, s ...int) *gorgonia.Node {
	return gorgonia.NewTensor(g, tensor.Float64, len(s), gorgonia.WithShape(s...), gorgonia.WithName(name),
		gorgonia.WithValue(tensor.New(tensor.WithShape(s...), tensor.WithBacking(v))))
}

func randn(rng *rand.Rand, n int, scale float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = scale * rng.NormFloat64()
	}
	return v
}

func run(t *testing.T, g *gorgonia.ExprGraph) {
	t.Helper()
	m := gorgonia.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
}

func values(n *gorgonia.Node) []float64 {
	switch v := n.Value().Data().(type) {
	case []float64:
		return v
	case float64:
		return []float64{v}
	}
	panic("not float64")
}

// The graph's closed-form KL per image agrees with klNormal and with a
// Monte-Carlo estimate of E_q[log q(z) - log p(z)].
func TestKLMatchesMonteCarlo(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	const b, l = 3, 4
	mu, lv := randn(rng, b*l, 1), randn(rng, b*l, 0.7)
	g := gorgonia.NewGraph()
	o := &ops{}
	kl := o.kl(in64(g, "mu", mu, b, l), in64(g, "lv", lv, b, l))
	if o.err != nil {
		t.Fatal(o.err)
	}
	run(t, g)
	got := values(kl)
	const draws = 400000
	for i := range b {
		m, v := mu[i*l:(i+1)*l], lv[i*l:(i+1)*l]
		var sum, sumSq float64
		for range draws {
			var d float64 // log q(z) - log p(z)
			for j := range l {
				e := rng.NormFloat64()
				z := m[j] + math.Exp(v[j]/2)*e
				d += -0.5*e*e - 0.5*v[j] + 0.5*z*z
			}
			sum += d
			sumSq += d * d
		}
		mc := sum / draws
		se := math.Sqrt((sumSq/draws - mc*mc) / draws)
		if math.Abs(got[i]-mc) > 5*se {
			t.Errorf("image %d: KL %v, Monte Carlo %v ± %v", i, got[i], mc, se)
		}
		m32, v32 := make([]float32, l), make([]float32, l)
		for j := range l {
			m32[j], v32[j] = float32(m[j]), float32(v[j])
		}
		if host := klNormal(m32, v32); math.Abs(host-got[i]) > 1e-5*max(1, got[i]) {
			t.Errorf("image %d: graph KL %v, klNormal %v", i, got[i], host)
		}
	}
}

// The Bernoulli reconstruction term is binary cross-entropy with logits,
// sum(log(1 + e^l) - t l), for logits far into both tails too.
func TestBernoulliReconMatchesFloat64(t *testing.T) {
	f := newFamily(t, "vae.ch=4")
	rng := rand.New(rand.NewPCG(2, 2))
	const b, d = 3, 50
	l, tg := randn(rng, b*d, 5), make([]float64, b*d)
	l[0], l[1], l[2] = 40, -40, 0
	for i := range tg {
		tg[i] = float64(rng.IntN(2))
	}
	g := gorgonia.NewGraph()
	o := &ops{}
	r := f.recon(o, in64(g, "l", l, b, d), in64(g, "t", tg, b, d))
	if o.err != nil {
		t.Fatal(o.err)
	}
	run(t, g)
	got := values(r)
	for i := range b {
		var want float64
		for j := i * d; j < (i+1)*d; j++ {
			// log(1 + e^l) - t l = -log sigmoid(l) for t = 1, -log(1 - sigmoid(l)) for t = 0.
			p := 1 / (1 + math.Exp(-l[j]))
			if tg[j] == 1 {
				want -= math.Log(p)
			} else {
				want -= math.Log1p(-p)
			}
		}
		if math.Abs(got[i]-want) > 1e-9*max(1, want) {
			t.Errorf("image %d: recon %v, want %v", i, got[i], want)
		}
	}
}

// The loss's gradients with respect to mu, logvar and a decoder's weights,
// through z = mu + exp(logvar/2) eps with eps fixed, agree with central
// finite differences in float64.
func TestReparameterisationGradients(t *testing.T) {
	f := newFamily(t, "vae.ch=4")
	rng := rand.New(rand.NewPCG(3, 3))
	const b, l, d = 2, 3, 5
	g := gorgonia.NewGraph()
	mu := in64(g, "mu", randn(rng, b*l, 1), b, l)
	lv := in64(g, "lv", randn(rng, b*l, 0.5), b, l)
	w := in64(g, "w", randn(rng, d*l, 1), d, l)
	eps := in64(g, "eps", randn(rng, b*l, 1), b, l)
	tg := make([]float64, b*d)
	for i := range tg {
		tg[i] = float64(rng.IntN(2))
	}
	o := &ops{}
	z := o.reparameterise(mu, lv, eps)
	logits := o.keep(gorgonia.Mul(z, o.keep(gorgonia.Transpose(w)))) // gorgonia's own, trusted
	loss := o.mean(o.bin(nn.Add, f.recon(o, logits, in64(g, "t", tg, b, d)), o.kl(mu, lv)))
	if o.err != nil {
		t.Fatal(o.err)
	}
	wrt := []*gorgonia.Node{mu, lv, w}
	grads, err := gorgonia.Grad(loss, wrt...)
	if err != nil {
		t.Fatal(err)
	}
	run(t, g)
	analytic := make([][]float64, len(wrt))
	for i := range wrt {
		analytic[i] = append([]float64(nil), values(grads[i])...)
	}
	cost := func() float64 { run(t, g); return values(loss)[0] }
	for i, n := range wrt {
		x := n.Value().Data().([]float64)
		for j := range x {
			x0 := x[j]
			x[j] = x0 + 1e-6
			cp := cost()
			x[j] = x0 - 1e-6
			cm := cost()
			x[j] = x0
			if num := (cp - cm) / 2e-6; math.Abs(num-analytic[i][j]) > 1e-6*max(1, math.Abs(num)) {
				t.Errorf("d loss / d %s[%d] = %v, finite differences %v", n.Name(), j, analytic[i][j], num)
			}
		}
	}
}

// A linear-Gaussian model p(z) = N(0, I), p(x|z) = N(W z + b, s^2 I) has
// p(x) = N(b, W W^T + s^2 I); with W's columns orthogonal the posterior is
// a diagonal Gaussian, which the encoder can be set to exactly. Then every
// draw's log p(x, z) - log q(z|x) is log p(x): the IWAE bound equals it for
// any K, and the ELBO (mean reconstruction plus closed-form KL) equals it
// up to the Monte-Carlo error of the reconstruction term. A worse encoder
// gives ELBO < IWAE_K <= log p(x), tighter with K.
func TestLinearGaussianBounds(t *testing.T) {
	const d, l, s2 = 6, 2, 0.3
	rng := rand.New(rand.NewPCG(4, 4))
	// W = Q diag(scale) with Q's columns orthonormal: Gram-Schmidt.
	q := make([][]float64, l)
	for j := range l {
		v := randn(rng, d, 1)
		for k := range j {
			var dot float64
			for i := range d {
				dot += v[i] * q[k][i]
			}
			for i := range d {
				v[i] -= dot * q[k][i]
			}
		}
		var nrm float64
		for _, x := range v {
			nrm += x * x
		}
		for i := range v {
			v[i] /= math.Sqrt(nrm)
		}
		q[j] = v
	}
	scale := []float64{2, 0.7}
	bias := randn(rng, d, 1)
	wt := make([]float64, l*d) // W^T, [l, d]
	for j := range l {
		for i := range d {
			wt[j*d+i] = q[j][i] * scale[j]
		}
	}
	// Posterior: var_j = 1/(1 + scale_j^2/s2), mean_j = var_j scale_j q_j.(x-b)/s2.
	x := randn(rng, d, 1.5)
	post := make([]float64, l)
	postVar := make([]float64, l)
	var logPx float64
	for j := range l {
		postVar[j] = 1 / (1 + scale[j]*scale[j]/s2)
		var proj float64
		for i := range d {
			proj += q[j][i] * (x[i] - bias[i])
		}
		post[j] = postVar[j] * scale[j] * proj / s2
	}
	{ // log N(x; b, s2 I + sum_j scale_j^2 q_j q_j^T)
		var quad float64
		r := make([]float64, d)
		for i := range d {
			r[i] = x[i] - bias[i]
			quad += r[i] * r[i] / s2
		}
		logDet := float64(d-l) * math.Log(s2)
		for j := range l {
			var proj float64
			for i := range d {
				proj += q[j][i] * r[i]
			}
			c := scale[j] * scale[j]
			quad -= proj * proj * c / (s2 * (s2 + c))
			logDet += math.Log(s2 + c)
		}
		logPx = -0.5 * (quad + logDet + float64(d)*math.Log(2*math.Pi))
	}

	// bounds draws k posteriors per run with the encoder's variance
	// multiplied by widen, and returns the per-draw log weights and the
	// ELBO as Evaluate computes them.
	bounds := func(k int, widen float64) (logw []float64, elbo float64) {
		g := gorgonia.NewGraph()
		lvv := make([]float64, k*l)
		muv := make([]float64, k*l)
		for s := range k {
			for j := range l {
				muv[s*l+j], lvv[s*l+j] = post[j], math.Log(widen*postVar[j])
			}
		}
		mu, lv := in64(g, "mu", muv, k, l), in64(g, "lv", lvv, k, l)
		epsv := randn(rng, k*l, 1)
		eps := in64(g, "eps", epsv, k, l)
		xs := make([]float64, k*d)
		for s := range k {
			copy(xs[s*d:], x)
		}
		o := &ops{}
		z := o.reparameterise(mu, lv, eps)
		mean := o.bin(nn.Add, o.keep(gorgonia.Mul(z, in64(g, "wt", wt, l, d))), in64(g, "b", bias, 1, d))
		diff := o.bin(nn.Sub, in64(g, "x", xs, k, d), mean)
		// -log p(x|z) = |x - mean|^2 / (2 s2) + d/2 log(2 pi s2)
		nll := o.addConst(o.scale(o.rowSum(o.bin(nn.Mul, diff, diff)), 0.5/s2), 0.5*d*math.Log(2*math.Pi*s2))
		kl := o.kl(mu, lv)
		if o.err != nil {
			t.Fatal(o.err)
		}
		run(t, g)
		zs, r, klv := values(z), values(nll), values(kl)
		f32 := func(v []float64) []float32 {
			out := make([]float32, len(v))
			for i, x := range v {
				out[i] = float32(x)
			}
			return out
		}
		for s := range k {
			logw = append(logw, -r[s]+logPriorOverPosterior(f32(zs[s*l:(s+1)*l]), f32(epsv[s*l:(s+1)*l]), f32(lvv[s*l:(s+1)*l])))
			elbo += -r[s] / float64(k)
		}
		return logw, elbo - klv[0]
	}

	logw, elbo := bounds(2000, 1)
	for s, v := range logw {
		if math.Abs(v-logPx) > 1e-5 {
			t.Fatalf("exact posterior, draw %d: log p(x, z) - log q(z|x) = %v, want log p(x) = %v", s, v, logPx)
		}
	}
	if iw := logMeanExp(logw[:7]); math.Abs(iw-logPx) > 1e-5 {
		t.Errorf("exact posterior: IWAE-7 = %v, want log p(x) = %v", iw, logPx)
	}
	if math.Abs(elbo-logPx) > 0.05 {
		t.Errorf("exact posterior: ELBO = %v, want log p(x) = %v", elbo, logPx)
	}

	// A posterior four times too wide: each bound averaged over runs.
	var e1, i1, i50 float64
	const runs = 40
	for range runs {
		lw, e := bounds(50, 4)
		e1 += e / runs
		i1 += logMeanExp(lw[:1]) / runs
		i50 += logMeanExp(lw) / runs
	}
	if !(e1 < i1+0.3 && i1 < i50-0.1 && i50 < logPx+1e-9) {
		t.Errorf("wide posterior: ELBO %v, IWAE-1 %v, IWAE-50 %v, log p(x) %v: want ELBO ~ IWAE-1 < IWAE-50 <= log p(x)", e1, i1, i50, logPx)
	}
	if logPx-e1 < 0.1 {
		t.Errorf("wide posterior: ELBO %v is not below log p(x) %v", e1, logPx)
	}
}

func TestLogMeanExp(t *testing.T) {
	for _, c := range []struct {
		v    []float64
		want float64
	}{
		{[]float64{0, 0}, 0},
		{[]float64{1000, 1000}, 1000},
		{[]float64{-1000, -1000 + math.Log(3)}, -1000 + math.Log(2)},
		{[]float64{math.Inf(-1), 0}, -math.Log(2)},
	} {
		if got := logMeanExp(c.v); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("logMeanExp(%v) = %v, want %v", c.v, got, c.want)
		}
	}
}

// standardError is the sample standard deviation over sqrt(n), as gonum's
// stat computes it from the values themselves.
func TestStandardError(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{2, 7, 1000} {
		xs := make([]float64, n)
		var sum, sum2 float64
		for i := range xs {
			xs[i] = 90 + 15*rng.NormFloat64()
			sum, sum2 = sum+xs[i], sum2+xs[i]*xs[i]
		}
		want := stat.StdDev(xs, nil) / math.Sqrt(float64(n))
		if got := standardError(sum, sum2, n); math.Abs(got-want) > 1e-9*want {
			t.Errorf("n = %d: standardError = %v, want %v", n, got, want)
		}
	}
	if got := standardError(5, 25, 1); got != 0 {
		t.Errorf("one value: standardError = %v, want 0", got)
	}
}
