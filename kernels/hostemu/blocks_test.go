package hostemu

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/nn"
	"github.com/scoregen/scoregen/optim"
	"github.com/scoregen/scoregen/sde"
)

// threads is the block size of the launchers (gpu.Threads).
const threads = 256

// GroupNorm with SiLU: the forward kernel, the input gradient, and the
// statistics plus affine gradient, as nn/groupnorm_gpu.go launches them.
func TestGroupNormKernelsMatchTheCPUOp(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	const n, c, groups, h, w, eps = 3, 8, 4, 5, 7, 1e-6
	d, s := c/groups, h*w
	x, gamma, beta := randn(rng, n*c*s), randn(rng, c), randn(rng, c)
	for i := range x {
		x[i] = 3*x[i] + 1 // an offset and a scale the statistics must find
	}
	want, dy, grads := gradients(t, func(g *gorgonia.ExprGraph) (*gorgonia.Node, []*gorgonia.Node) {
		xn, gn, bn := input(g, "x", n, c, h, w), input(g, "gamma", c), input(g, "beta", c)
		y, err := nn.GroupNorm(xn, gn, bn, groups, eps, nn.SiLU)
		if err != nil {
			t.Fatal(err)
		}
		return y, []*gorgonia.Node{xn, gn, bn}
	}, [][]float32{x, gamma, beta}, func(k int) []float32 { return randn(rng, k) })

	blocks := Launch{n * groups, threads}
	y := make([]float32, len(x))
	GNFwd(blocks, y, x, gamma, beta, groups, d, s, eps, int(nn.SiLU))
	assertClose(t, "group norm", y, want, 1e-5)

	dx := make([]float32, len(x))
	GNBwdX(blocks, dx, x, gamma, beta, dy, groups, d, s, eps, int(nn.SiLU))
	assertClose(t, "group norm input gradient", dx, grads[0], 1e-5)

	stats, affine := make([]float32, 2*n*groups), make([]float32, 2*c)
	GNStats(blocks, stats, x, d, s, eps)
	GNBwdAffine(Launch{c, threads}, affine, x, gamma, beta, dy, stats, n, c, groups, s, int(nn.SiLU))
	assertClose(t, "group norm gamma gradient", affine[:c], grads[1], 1e-5)
	assertClose(t, "group norm beta gradient", affine[c:], grads[2], 1e-5)
}

// BatchNorm: the forward kernel, the input gradient computed in place over
// dy (as the engine may bind it), the affine gradient and the moments, as
// nn/batchnorm_gpu.go launches them (a block per channel), for NCHW and
// [N,F] inputs.
func TestBatchNormKernelsMatchTheCPUOp(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	for _, xs := range [][]int{{3, 4, 5, 7}, {9, 5}} {
		n, c, s := xs[0], xs[1], 1
		if len(xs) == 4 {
			s = xs[2] * xs[3]
		}
		const eps = 1e-5
		x, gamma, beta := randn(rng, n*c*s), randn(rng, c), randn(rng, c)
		for i := range x {
			x[i] = 3*x[i] + 1
		}
		var xNode, mean, variance *gorgonia.Node
		want, dy, grads := gradients(t, func(g *gorgonia.ExprGraph) (*gorgonia.Node, []*gorgonia.Node) {
			xn, gn, bn := input(g, "x", xs...), input(g, "gamma", c), input(g, "beta", c)
			y, err := nn.BatchNorm(xn, gn, bn, eps)
			if err == nil {
				mean, variance, err = nn.ChannelMoments(xn)
			}
			xNode = xn
			if err != nil {
				t.Fatal(err)
			}
			return y, []*gorgonia.Node{xn, gn, bn}
		}, [][]float32{x, gamma, beta}, func(k int) []float32 { return randn(rng, k) })
		moments := cpuRun(t, map[*gorgonia.Node][]float32{xNode: x}, mean, variance)

		blocks := Launch{c, threads}
		y := make([]float32, len(x))
		BNFwd(blocks, y, x, gamma, beta, n, c, s, eps)
		assertClose(t, "batch norm", y, want, 1e-5)

		dx := slices.Clone(dy)
		BNBwdX(blocks, dx, x, gamma, dx, n, c, s, eps)
		assertClose(t, "batch norm input gradient", dx, grads[0], 1e-5)

		affine := make([]float32, 2*c)
		BNBwdAffine(blocks, affine, x, dy, n, c, s, eps)
		assertClose(t, "batch norm gamma gradient", affine[:c], grads[1], 1e-5)
		assertClose(t, "batch norm beta gradient", affine[c:], grads[2], 1e-5)

		BNMoments(blocks, affine, x, n, c, s)
		assertClose(t, "channel means", affine[:c], moments[0], 1e-6)
		assertClose(t, "channel variances", affine[c:], moments[1], 1e-6)

		// Eval mode with these statistics, in place as the engine may run it.
		g := gorgonia.NewGraph()
		xn, gn, bn, mn, vn := input(g, "x", xs...), input(g, "gamma", c), input(g, "beta", c), input(g, "mean", c), input(g, "var", c)
		yn, err := nn.BatchNormInference(xn, gn, bn, mn, vn, eps)
		if err != nil {
			t.Fatal(err)
		}
		mv, vv := affine[:c], affine[c:]
		wantEval := cpuRun(t, map[*gorgonia.Node][]float32{xn: x, gn: gamma, bn: beta, mn: mv, vn: vv}, yn)[0]
		eval := slices.Clone(x)
		BNInfer(eval, eval, gamma, beta, mv, vv, c, s, eps)
		assertClose(t, "batch norm eval mode", eval, wantEval, 1e-6)
	}
}

// Softmax over rows longer than a warp, forward and backward, with the
// launcher's block size (the row length rounded up to warps).
func TestSoftmaxKernelsMatchTheCPUOp(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	const rows, n = 5, 70
	x := randn(rng, rows*n)
	want, dy, grads := gradients(t, func(g *gorgonia.ExprGraph) (*gorgonia.Node, []*gorgonia.Node) {
		xn := input(g, "x", rows, n)
		y, err := nn.Softmax(xn)
		if err != nil {
			t.Fatal(err)
		}
		return y, []*gorgonia.Node{xn}
	}, [][]float32{x}, func(k int) []float32 { return randn(rng, k) })
	blocks := Launch{rows, (n + 31) / 32 * 32}
	y, dx := make([]float32, len(x)), make([]float32, len(x))
	SoftmaxFwd(blocks, y, x, n)
	assertClose(t, "softmax", y, want, 1e-6)
	SoftmaxBwd(blocks, dx, y, dy, n)
	assertClose(t, "softmax gradient", dx, grads[0], 1e-5)
}

// The cross-entropy over more rows than the block's threads (each thread
// sums several), forward and both gradients, against the CPU op; one-hot
// targets and, in the last rows, weights that do not sum to 1, and logits
// of ±1000 in row 0.
func TestSoftmaxCrossEntropyKernelsMatchTheCPUOp(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 12))
	const rows, k = 300, 10
	logits, targets := randn(rng, rows*k), make([]float32, rows*k)
	for r := range rows {
		if r < rows-5 {
			targets[r*k+rng.IntN(k)] = 1
		} else {
			copy(targets[r*k:(r+1)*k], randn(rng, k))
		}
	}
	copy(logits, []float32{1000, -1000, 0})
	want, dLoss, grads := gradients(t, func(g *gorgonia.ExprGraph) (*gorgonia.Node, []*gorgonia.Node) {
		ln, tn := input(g, "logits", rows, k), input(g, "targets", rows, k)
		y, err := nn.SoftmaxCrossEntropy(ln, tn)
		if err != nil {
			t.Fatal(err)
		}
		return y, []*gorgonia.Node{ln, tn}
	}, [][]float32{logits, targets}, func(int) []float32 { return []float32{0.7} })
	got := make([]float32, 1)
	SoftmaxCEFwd(Launch{1, 64}, got, logits, targets, rows, k)
	assertClose(t, "cross-entropy", got, want, 1e-6)
	for wrt, name := range []string{"gradient by the logits", "gradient by the targets"} {
		d := make([]float32, rows*k)
		SoftmaxCEBwd(d, logits, targets, dLoss, rows, k, wrt)
		assertClose(t, name, d, grads[wrt], 1e-6)
	}

	// The accuracy of the same rows, with ties in the last one.
	copy(logits[(rows-1)*k:], []float32{3, 3, 3})
	g := gorgonia.NewGraph()
	ln, tn := input(g, "logits", rows, k), input(g, "targets", rows, k)
	acc, err := nn.Accuracy(ln, tn)
	if err != nil {
		t.Fatal(err)
	}
	wantAcc := cpuRun(t, map[*gorgonia.Node][]float32{ln: logits, tn: targets}, acc)[0]
	Accuracy(Launch{1, 64}, got, logits, targets, rows, k)
	if got[0] != wantAcc[0] || wantAcc[0] < 0.05 || wantAcc[0] > 0.2 {
		t.Errorf("accuracy %v, the CPU op's %v (about 1/%d for random logits)", got[0], wantAcc[0], k)
	}
}

// reduce_to sums [2,3,4,5] to [1,3,1,5]: kept axes 1 and 3, reduced 0 and 2
// (the arguments nn/reduce_gpu.go builds for this case).
func TestReduceToKernelMatchesSumTo(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	x := randn(rng, 120)
	g := gorgonia.NewGraph()
	xn := input(g, "x", 2, 3, 4, 5)
	y, err := nn.SumTo(xn, tensor.Shape{1, 3, 1, 5})
	if err != nil {
		t.Fatal(err)
	}
	want := cpuRun(t, map[*gorgonia.Node][]float32{xn: x}, y)[0]
	// k1..k3, ks0..ks3, r1..r3, rs0..rs3: each list padded on the left.
	axes := [14]int32{1, 3, 5, 0, 0, 20, 1, 1, 2, 4, 0, 0, 60, 5}
	got := make([]float32, 15)
	ReduceTo(Launch{15, threads}, got, x, 1, axes, 8)
	assertClose(t, "reduce_to", got, want, 1e-6)
}

// mse, the pseudo-Huber loss and the sinusoidal embedding's gradient, each
// against its CPU op.
func TestLossAndEmbeddingKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	a, b := randn(rng, 300), randn(rng, 300)
	g := gorgonia.NewGraph()
	an, bn := input(g, "a", 3, 100), input(g, "b", 3, 100)
	loss, err := nn.MSE(an, bn)
	if err != nil {
		t.Fatal(err)
	}
	want := cpuRun(t, map[*gorgonia.Node][]float32{an: a, bn: b}, loss)[0]
	got := make([]float32, 1)
	MSE(Launch{1, 1024}, got, a, b)
	assertClose(t, "mse", got, want, 1e-6)

	// The pseudo-Huber loss scaled by 2.5, so that its kernels see a
	// gradient g = 2.5; c large enough for one sample to sit in each regime.
	const phC, phScale = 2.0, 2.5
	w := []float32{0.5, 2, -1}
	phA := randn(rng, 300)
	for j := range 100 {
		phA[j] = b[j] + 0.01*phA[j] // sample 0 within c of b
	}
	an, bn = input(g, "pa", 3, 100), input(g, "pb", 3, 100)
	wn := input(g, "w", 3)
	ph, err := nn.PseudoHuber(an, bn, wn, phC)
	if err != nil {
		t.Fatal(err)
	}
	scaled, err := nn.Scale(ph, phScale)
	if err != nil {
		t.Fatal(err)
	}
	phGrads, err := gorgonia.Grad(scaled, an, wn)
	if err != nil {
		t.Fatal(err)
	}
	res := cpuRun(t, map[*gorgonia.Node][]float32{an: phA, bn: b, wn: w}, ph, phGrads[0], phGrads[1])
	PseudoHuber(Launch{1, 1024}, got, phA, b, w, phC)
	assertClose(t, "pseudo_huber", got, res[0], 1e-6)
	da, dw := make([]float32, 300), make([]float32, 3)
	gv := []float32{phScale}
	PseudoHuberBwd(Launch{3, threads}, da, phA, b, w, gv, phC, 0)
	assertClose(t, "pseudo_huber_bwd by a", da, res[1], 1e-6)
	PseudoHuberBwd(Launch{3, threads}, dw, phA, b, w, gv, phC, 2)
	assertClose(t, "pseudo_huber_bwd by w", dw, res[2], 1e-6)

	const batch, dim, scale = 4, 32, 1000
	tt := []float32{0.01, 0.3, 0.77, 1}
	_, dy, grads := gradients(t, func(g *gorgonia.ExprGraph) (*gorgonia.Node, []*gorgonia.Node) {
		tn := input(g, "t", batch)
		y, err := nn.Sinusoidal(tn, dim, scale)
		if err != nil {
			t.Fatal(err)
		}
		return y, []*gorgonia.Node{tn}
	}, [][]float32{tt}, func(k int) []float32 { return randn(rng, k) })
	dt := make([]float32, batch)
	SinusoidalBwd(Launch{batch, threads}, dt, tt, dy, dim, scale)
	assertClose(t, "sinusoidal gradient", dt, grads[0], 1e-5)
}

// The optimiser kernels over three tensors scattered in an arena, for
// five steps (the gradient norm's last-block counter must reset), against
// nn's GlobalNorm, ClipScale, Adam and EMA. Steps 3 and 4 are poisoned, by
// a NaN gradient and by an infinite loss: there, as on the CPU, the
// kernels must leave weights, moments and EMA exactly as they were.
func TestOptimiserKernelsMatchNN(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 10))
	sizes := []int{5000, 37, 8200}
	arena := randn(rng, 2*(5000+37+8200)+100)
	var tab Tables
	var params, grads [][]float32
	at, flat := 50, 0
	for i, n := range sizes {
		tab.Param = append(tab.Param, int64(at))
		tab.Grad = append(tab.Grad, int64(at+n))
		tab.Flat = append(tab.Flat, int64(flat))
		tab.Size = append(tab.Size, int64(n))
		for s := 0; s < n; s += 4096 {
			tab.ChunkTensor = append(tab.ChunkTensor, int32(i))
			tab.ChunkStart = append(tab.ChunkStart, int64(s))
		}
		params = append(params, append([]float32(nil), arena[at:at+n]...))
		grads = append(grads, arena[at+n:at+2*n])
		at, flat = at+2*n, flat+n
	}
	adam := optim.NewAdam(params, grads, 0.9, 0.999, 1e-8)
	ema := optim.NewEMA(params, 0.999, optim.DefaultEMARamp)
	m, v, shadow := make([]float32, flat), make([]float32, flat), make([]float32, 0, flat)
	for _, p := range params {
		shadow = append(shadow, p...)
	}
	chunks := len(tab.ChunkTensor)
	blocks := Launch{chunks, threads}
	partial := make([]float64, chunks)
	var norm float64
	var done uint32
	const lr, maxNorm = 1e-3, 1.0
	updates := 0
	for step := range 5 {
		for _, gr := range grads { // new gradients, the same on both sides
			for j := range gr {
				gr[j] = float32(rng.NormFloat64()) * 0.1
			}
		}
		loss := float32(0.5)
		switch step {
		case 2:
			grads[1][7] = float32(math.NaN())
		case 3:
			loss = float32(math.Inf(1))
		}
		want := optim.GlobalNorm(grads)
		NormSq(blocks, &norm, partial, &done, arena, &tab)
		if !(math.Abs(norm-want) <= 1e-12*want || math.IsNaN(norm) && math.IsNaN(want)) || done != 0 {
			t.Fatalf("step %d: norm %v, want %v (counter left at %d)", step, norm, want, done)
		}
		poisoned := math.IsNaN(want) || math.IsInf(float64(loss), 0)
		before := [][]float32{slices.Clone(arena), slices.Clone(m), slices.Clone(v), slices.Clone(shadow)}
		if !poisoned {
			updates++
			adam.Update(lr, optim.ClipScale(want, maxNorm))
			ema.Update(params)
		}
		c1, c2 := 1-math.Pow(0.9, float64(updates)), 1-math.Pow(0.999, float64(updates))
		keep := optim.EMADecay(0.999, optim.DefaultEMARamp, updates)
		ctl := StepCtl{lr / c1, math.Sqrt(c2), keep, 1 - keep}
		Adam(blocks, arena, m, v, &norm, &loss, &ctl, &tab, 0.9, 0.999, 1e-8, maxNorm)
		EMA(blocks, shadow, arena, &norm, &loss, &ctl, &tab)
		if poisoned {
			for i, after := range [][]float32{arena, m, v, shadow} {
				if d := mismatches(before[i], after); d > 0 {
					t.Errorf("step %d (loss %v, norm %v): the update changed %d values of %s", step, loss, norm, d, []string{"the arena", "m", "v", "the EMA"}[i])
				}
			}
		}
	}
	for i := range sizes {
		p, f := int(tab.Param[i]), int(tab.Flat[i])
		assertClose(t, "adam weights", arena[p:p+sizes[i]], params[i], 1e-6)
		assertClose(t, "adam m", m[f:f+sizes[i]], adam.M[i], 1e-6)
		assertClose(t, "adam v", v[f:f+sizes[i]], adam.V[i], 1e-6)
		assertClose(t, "ema", shadow[f:f+sizes[i]], ema.Shadow[i], 1e-6)
	}
}

// The follow kernel moves state tensors scattered in an arena towards
// their batch values exactly as optim.Follow does, each tensor with its own
// momentum that changes by step (a consistency model's mu(k)); at a
// poisoned step (an infinite loss) it changes nothing.
func TestFollowKernelMatchesOptim(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 12))
	sizes := []int{5000, 3, 4100}
	arena := randn(rng, 2*(5000+3+4100)+40)
	var tab Tables
	var value, batch []int64
	at := 20
	for i, n := range sizes {
		value = append(value, int64(at+n)) // the value after its batch, unlike the optimiser's order
		batch = append(batch, int64(at))
		tab.Size = append(tab.Size, int64(n))
		for s := 0; s < n; s += 4096 {
			tab.ChunkTensor = append(tab.ChunkTensor, int32(i))
			tab.ChunkStart = append(tab.ChunkStart, int64(s))
		}
		at += 2 * n
	}
	want := slices.Clone(arena)
	norm := 2.5
	for step := range 4 {
		loss := float32(0.5)
		if step == 2 {
			loss = float32(math.Inf(1))
		}
		keepTake := make([]float64, 2*len(sizes))
		for i := range sizes {
			m := 1 - math.Exp(2*math.Log(0.9)/float64(2+3*step+i)) // 1 - mu(k), as consistency training's
			keepTake[2*i], keepTake[2*i+1] = 1-m, m
			if step != 2 {
				v, b := int(value[i]), int(batch[i])
				optim.Follow(want[v:v+sizes[i]], want[b:b+sizes[i]], m)
			}
		}
		Follow(Launch{len(tab.ChunkTensor), threads}, arena, &norm, &loss, keepTake, value, batch, &tab)
		if d := mismatches(want, arena); d > 0 {
			t.Fatalf("step %d (loss %v): %d values differ from optim.Follow's", step, loss, d)
		}
	}
	if mismatches(want, randn(rand.New(rand.NewPCG(12, 12)), len(want))) == 0 {
		t.Fatal("the states never moved")
	}
}

// mismatches counts the elements whose bits differ.
func mismatches(a, b []float32) int {
	n := 0
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			n++
		}
	}
	return n
}

// One Langevin corrector step by the three kernels equals
// sde.LangevinCorrector's with the same network output.
func TestLangevinKernelsMatchSDE(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	vp, err := sde.NewVP(0.1, 20, 1000)
	if err != nil {
		t.Fatal(err)
	}
	const batch, dim, snr, seed = 3, 40, 0.16, 21
	sched, err := sde.PCSchedule(vp, 10, 1, snr, 1e-3)
	if err != nil {
		t.Fatal(err)
	}
	st := sched[4] // the corrector of step 2
	if !st.Corrector {
		t.Fatalf("schedule entry %+v is not a corrector", st)
	}
	x0, epsHat := randn(rng, batch*dim), randn(rng, batch*dim)
	scale := float32(-1 / st.Std)
	score := func(_, _, out []float32) error {
		for i, e := range epsHat {
			out[i] = e * scale
		}
		return nil
	}
	want := append([]float32(nil), x0...)
	if err := sde.LangevinCorrector(vp, score, want, batch, st.T, snr, seed, st.Draw); err != nil {
		t.Fatal(err)
	}
	ctl := SamplerCtl{T: st.T, ScoreScale: float64(scale), Mode: 2, Seed: seed, Draw: st.Draw, SNR: snr, Alpha: st.Alpha}
	z, norms, bad := make([]float32, batch*dim), make([]float64, 2*batch), make([]float64, 2)
	x := append([]float32(nil), x0...)
	LangevinNoise(z, &ctl)
	LangevinNorms(Launch{batch, threads}, norms, epsHat, z, dim, &ctl)
	LangevinStep(Launch{2, threads}, x, epsHat, z, norms, batch, &ctl, bad)
	if bad[0] != 0 {
		t.Fatalf("corrector reported a bad norm %v", bad[1])
	}
	for j := range want {
		if ulps(x[j], want[j]) > 1 {
			t.Fatalf("element %d: %v from the kernels, %v from sde", j, x[j], want[j])
		}
	}
}
