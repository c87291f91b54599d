package hostemu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/internal/philox"
	"github.com/scoregen/scoregen/nn"
	"github.com/scoregen/scoregen/score"
	"github.com/scoregen/scoregen/sde"
)

func randn(rng *rand.Rand, n int) []float32 {
	d := make([]float32, n)
	for i := range d {
		d[i] = float32(rng.NormFloat64())
	}
	return d
}

// cpuRun compiles the nodes' graph on the CPU backend with the given input
// values, runs it once and returns the value of each output.
func cpuRun(t *testing.T, inputs map[*gorgonia.Node][]float32, outputs ...*gorgonia.Node) [][]float32 {
	t.Helper()
	plan, err := engine.Compile(outputs, engine.NewCPU())
	if err != nil {
		t.Fatal(err)
	}
	for n, v := range inputs {
		if err := plan.Write(n, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := plan.Run(); err != nil {
		t.Fatal(err)
	}
	out := make([][]float32, len(outputs))
	for i, n := range outputs {
		out[i] = make([]float32, max(n.Shape().TotalSize(), 1))
		if err := plan.Read(n, out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func input(g *gorgonia.ExprGraph, name string, s ...int) *gorgonia.Node {
	return gorgonia.NewTensor(g, tensor.Float32, len(s), gorgonia.WithShape(s...), gorgonia.WithName(name))
}

func assertClose(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	scale := 0.0
	for _, w := range want {
		scale = max(scale, math.Abs(float64(w)))
	}
	for i := range want {
		if d := math.Abs(float64(got[i]) - float64(want[i])); !(d <= tol*scale) {
			t.Fatalf("%s: element %d is %g, want %g", what, i, got[i], want[i])
		}
	}
}

// gradients is a graph's output y = f(inputs) and the gradients of
// sum(y * dy) with respect to the inputs, from the CPU backend.
func gradients(t *testing.T, f func(g *gorgonia.ExprGraph) (y *gorgonia.Node, in []*gorgonia.Node), values [][]float32, dy func(n int) []float32) (out, gy []float32, grads [][]float32) {
	t.Helper()
	g := gorgonia.NewGraph()
	y, in := f(g)
	dyNode := input(g, "dy", y.Shape()...)
	prod, err := nn.Binary(nn.Mul, y, dyNode)
	if err != nil {
		t.Fatal(err)
	}
	cost, err := nn.Sum(prod)
	if err != nil {
		t.Fatal(err)
	}
	gs, err := gorgonia.Grad(cost, in...)
	if err != nil {
		t.Fatal(err)
	}
	gy = dy(y.Shape().TotalSize())
	feed := map[*gorgonia.Node][]float32{dyNode: gy}
	for i, n := range in {
		feed[n] = values[i]
	}
	res := cpuRun(t, feed, append(gorgonia.Nodes{y}, gs...)...)
	return res[0], gy, res[1:]
}

// gemm is C[m,n] = sum_k A[m,k] B[k,n] with A and B read through strides,
// in float64, standing in for cuBLAS.
func gemm(m, n, k int, a func(i, l int) float32, b func(l, j int) float32) []float32 {
	c := make([]float32, m*n)
	for i := range m {
		for j := range n {
			var s float64
			for l := range k {
				s += float64(a(i, l)) * float64(b(l, j))
			}
			c[i*n+j] = float32(s)
		}
	}
	return c
}

// The convolution kernels, chained as nn/conv_gpu.go chains them around
// its GEMMs (two images per chunk), give the CPU op's output, input
// gradient and weight gradient.
func TestConvKernelsMatchTheCPUOp(t *testing.T) {
	for _, c := range []struct{ n, cin, h, w, cout, k, stride, pad int }{
		{3, 2, 7, 6, 4, 3, 1, 1},
		{3, 3, 9, 8, 2, 3, 2, 1},
		{2, 4, 5, 5, 3, 1, 1, 0},
		{3, 2, 6, 7, 3, 3, 1, 0},
	} {
		rng := rand.New(rand.NewPCG(uint64(c.h), 5))
		xv, wv, bv := randn(rng, c.n*c.cin*c.h*c.w), randn(rng, c.cout*c.cin*c.k*c.k), randn(rng, c.cout)
		var ys tensor.Shape
		yv, dy, grads := gradients(t, func(g *gorgonia.ExprGraph) (*gorgonia.Node, []*gorgonia.Node) {
			x, w, b := input(g, "x", c.n, c.cin, c.h, c.w), input(g, "w", c.cout, c.cin, c.k, c.k), input(g, "b", c.cout)
			y, err := nn.Conv2d(x, w, b, c.stride, c.pad)
			if err != nil {
				t.Fatal(err)
			}
			ys = y.Shape()
			return y, []*gorgonia.Node{x, w, b}
		}, [][]float32{xv, wv, bv}, func(k int) []float32 { return randn(rng, k) })
		want := [][]float32{yv, grads[0], grads[1]}

		geo := ConvGeom{C: c.cin, H: c.h, W: c.w, KH: c.k, KW: c.k, OH: ys[2], OW: ys[3], Stride: c.stride, Pad: c.pad}
		kdim, P := c.cin*c.k*c.k, ys[2]*ys[3]
		gy, dx, dw := make([]float32, ys.TotalSize()), make([]float32, len(xv)), make([]float64, len(wv))
		for n0 := 0; n0 < c.n; n0 += 2 {
			nb := min(2, c.n-n0)
			cols := nb * P
			col := make([]float32, kdim*cols)
			Im2col(col, xv, n0, nb, geo)
			ycol := gemm(c.cout, cols, kdim, func(i, l int) float32 { return wv[i*kdim+l] }, func(l, j int) float32 { return col[l*cols+j] })
			Scatter(gy, ycol, bv, n0, nb, c.cout, P)

			dycol := make([]float32, c.cout*cols)
			Gather(dycol, dy, n0, nb, c.cout, P)
			dcol := gemm(kdim, cols, c.cout, func(i, l int) float32 { return wv[l*kdim+i] }, func(l, j int) float32 { return dycol[l*cols+j] })
			Col2im(dx, dcol, n0, nb, geo)
			part := gemm(c.cout, kdim, cols, func(i, l int) float32 { return dycol[i*cols+l] }, func(l, j int) float32 { return col[j*cols+l] })
			for i, v := range part {
				dw[i] += float64(v)
			}
		}
		dw32 := make([]float32, len(dw))
		for i, v := range dw {
			dw32[i] = float32(v)
		}
		assertClose(t, "conv output", gy, want[0], 1e-5)
		assertClose(t, "conv input gradient", dx, want[1], 1e-5)
		assertClose(t, "conv weight gradient", dw32, want[2], 1e-5)
	}
}

// Upsampling forward and backward equal the CPU op's, and concatenation by
// copy_rows equals nn.Concat.
func TestShapeKernelsMatchTheCPUOps(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	g := gorgonia.NewGraph()
	x, a := input(g, "x", 2, 3, 4, 5), input(g, "a", 2, 2, 4, 5)
	up, err := nn.Upsample2x(x)
	if err != nil {
		t.Fatal(err)
	}
	gy := input(g, "gy", up.Shape()...)
	prod, _ := nn.Binary(nn.Mul, up, gy)
	cost, _ := nn.Sum(prod)
	grads, err := gorgonia.Grad(cost, x)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := nn.Concat(x, a)
	if err != nil {
		t.Fatal(err)
	}
	xv, av, gv := randn(rng, 120), randn(rng, 80), randn(rng, 480)
	want := cpuRun(t, map[*gorgonia.Node][]float32{x: xv, a: av, gy: gv}, up, grads[0], cat)

	y, dx := make([]float32, 480), make([]float32, 120)
	Upsample2x(y, xv, 6, 4, 5)
	Upsample2xBwd(dx, gv, 6, 4, 5)
	assertClose(t, "upsample", y, want[0], 0)
	assertClose(t, "upsample gradient", dx, want[1], 0)

	out := make([]float32, 200)
	CopyRows(out, xv, 2, 60, 100, 0, 60, 0) // as nn/concat_gpu.go: each input's rows into place
	CopyRows(out, av, 2, 40, 100, 60, 40, 0)
	assertClose(t, "concat", out, want[2], 0)
}

// The dropout kernel draws the CPU op's masks bit for bit.
func TestDropoutKernelMatchesTheCPUOp(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	g := gorgonia.NewGraph()
	x := input(g, "x", 3, 7, 5) // 105 elements: a partial Philox block at the end
	r := &nn.RNG{Seed: 0x1234_5678_9abc, Step: 41}
	const p, stream = 0.3, 17
	y, err := nn.Dropout(x, p, stream, r)
	if err != nil {
		t.Fatal(err)
	}
	xv := randn(rng, 105)
	want := cpuRun(t, map[*gorgonia.Node][]float32{x: xv}, y)[0]
	got := make([]float32, 105)
	Dropout(got, xv, uint32(math.Ceil(p*0x1p24)), float32(1/(1-p)), r.Seed, stream, r.Step)
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("element %d: %v from the kernel, %v from the CPU op", i, got[i], want[i])
		}
	}
}

// The uniform noise kernel draws the CPU op's numbers bit for bit, with a
// partial Philox block at the end.
func TestUniformLikeKernelMatchesTheCPUOp(t *testing.T) {
	g := gorgonia.NewGraph()
	x := input(g, "x", 3, 7, 5)
	r := &nn.RNG{Seed: 0x1234_5678_9abc, Step: 41}
	const stream = 23
	y, err := nn.UniformLike(x, stream, r)
	if err != nil {
		t.Fatal(err)
	}
	want := cpuRun(t, map[*gorgonia.Node][]float32{x: make([]float32, 105)}, y)[0]
	got := make([]float32, 105)
	UniformLike(got, r.Seed, stream, r.Step)
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("element %d: %v from the kernel, %v from the CPU op", i, got[i], want[i])
		}
	}
}

// The random kernels draw the CPU ops' numbers: NormalLike's within a
// float32 ulp (the C library's log and sincos against Go's), Bernoulli's
// bit for bit, with p from below 0 to above 1 and on a length that ends in
// a partial Philox block.
func TestRandomKernelsMatchTheCPUOps(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 3))
	g := gorgonia.NewGraph()
	x := input(g, "x", 3, 7, 5)
	r := &nn.RNG{Seed: 0x1234_5678_9abc, Step: 1<<32 + 41}
	const stream = 23
	z, err := nn.NormalLike(x, stream, r)
	if err != nil {
		t.Fatal(err)
	}
	b, err := nn.Bernoulli(x, stream+1, r)
	if err != nil {
		t.Fatal(err)
	}
	pv := randn(rng, 105)
	for i := range pv {
		pv[i] = 0.5 + 0.4*pv[i]
	}
	want := cpuRun(t, map[*gorgonia.Node][]float32{x: pv}, z, b)
	got := make([]float32, 105)
	NormalLike(got, r.Seed, stream, r.Step)
	for i := range got {
		if ulps(got[i], want[0][i]) > 1 {
			t.Fatalf("normal %d: %v from the kernel, %v from the CPU op", i, got[i], want[0][i])
		}
	}
	Bernoulli(got, pv, r.Seed, stream+1, r.Step)
	ones := 0
	for i := range got {
		if got[i] != want[1][i] {
			t.Fatalf("Bernoulli %d (p %v): %v from the kernel, %v from the CPU op", i, pv[i], got[i], want[1][i])
		}
		ones += int(got[i])
	}
	if ones == 0 || ones == len(got) {
		t.Fatalf("Bernoulli drew %d ones of %d", ones, len(got))
	}
}

// ulps is the distance between two float32s in units in the last place.
func ulps(a, b float32) int64 {
	d := int64(int32(math.Float32bits(a))) - int64(int32(math.Float32bits(b)))
	return max(d, -d)
}

// The fused noising kernel draws sde.Perturb's t and z and computes its
// x_t, for each SDE: t exactly, z and x_t within a float32 ulp (the C
// library's exp and log may round differently from Go's in the last bit of
// a double). DDPM has 10 steps, so that its t moves far when snapped and
// the batch draws every step; and the comparison can fail: VP's kernel (t
// not snapped, the continuous abar) or another schedule's table (t snapped
// alike) does not pass for DDPM's.
func TestPerturbKernelMatchesSDE(t *testing.T) {
	ve, _ := sde.NewVE(0.01, 50, 1000)
	vp, _ := sde.NewVP(0.1, 20, 1000)
	subvp, _ := sde.NewSubVP(0.1, 20, 1000)
	ddpm, _ := sde.NewDDPM(0.1, 5, 10)
	for _, s := range []sde.SDE{ve, vp, subvp, ddpm} {
		if msg := perturbMismatch(s, s.Kernel()); msg != "" {
			t.Errorf("%T: %s", s, msg)
		}
	}
	other, _ := sde.NewDDPM(0.2, 5, 10)
	for _, k := range []sde.Kernel{{Kind: sde.KindVP, A: 0.1, B: 5}, other.Kernel()} {
		if perturbMismatch(ddpm, k) == "" {
			t.Errorf("the kernel %+v noises as DDPM(0.1, 5, 10) does", k)
		}
	}
}

// perturbMismatch runs sde.Perturb for s and the noising kernel for k on
// the same batch, and says where they first disagree: a t not bit for bit
// equal, or a z or x_t more than a float32 ulp apart; "" where they agree.
func perturbMismatch(s sde.Marginal, k sde.Kernel) string {
	rng := rand.New(rand.NewPCG(3, uint64(k.Kind)))
	const batch, d, eps, seed, step = 64, 11, 1e-5, 99, 12
	x0 := randn(rng, batch*d)
	xt, z, tt := make([]float32, batch*d), make([]float32, batch*d), make([]float32, batch)
	sde.Perturb(s, x0, xt, z, tt, batch, seed, step, eps)
	gxt, gz, gt := make([]float32, batch*d), make([]float32, batch*d), make([]float32, batch)
	Perturb(gxt, gz, gt, x0, k, eps, seed, step)
	for i := range tt {
		if gt[i] != tt[i] {
			return fmt.Sprintf("t[%d] = %v from the kernel, %v from sde.Perturb", i, gt[i], tt[i])
		}
	}
	for j := range z {
		if ulps(gz[j], z[j]) > 1 || ulps(gxt[j], xt[j]) > 1 {
			return fmt.Sprintf("element %d: z %v vs %v, x_t %v vs %v", j, gz[j], z[j], gxt[j], xt[j])
		}
	}
	return ""
}

// With the flow kind the kernel draws sde.FlowPerturb's batch: Perturb's t,
// x_t = (1 - t) x0 + t z and the target z - x0.
func TestPerturbKernelMatchesFlow(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	const batch, d, eps, seed, step = 6, 11, 1e-5, 99, 12
	x0 := randn(rng, batch*d)
	xt, target, tt := make([]float32, batch*d), make([]float32, batch*d), make([]float32, batch)
	sde.FlowPerturb(x0, xt, target, tt, batch, seed, step, eps)
	gxt, gtarget, gt := make([]float32, batch*d), make([]float32, batch*d), make([]float32, batch)
	Perturb(gxt, gtarget, gt, x0, sde.Kernel{Kind: sde.KindFlow}, eps, seed, step)
	for i := range tt {
		if gt[i] != tt[i] {
			t.Fatalf("t[%d] = %v from the kernel, %v from sde.FlowPerturb", i, gt[i], tt[i])
		}
	}
	for j := range xt {
		if ulps(gtarget[j], target[j]) > 1 || ulps(gxt[j], xt[j]) > 1 {
			t.Fatalf("element %d: target %v vs %v, x_t %v vs %v", j, gtarget[j], target[j], gxt[j], xt[j])
		}
	}
}

// The consistency pair kernel writes what sde.Consistency's Pair then
// Inputs write for both networks, and the pairs' weights (PairWeight), at
// steps where N(k) is its start, in between and past K (a batch with a
// partial Philox block): every input bit for bit but the time input
// ln(t)/4, within a float32 ulp (the C library's log may round differently
// from Go's); for consistency training and improved training (N(k) in
// stages, the lognormal index). A schedule of another rho does not pass
// once there are more than the two ends, nor an improved one whose index
// distribution has another mean.
func TestConsistencyPairKernelMatchesSDE(t *testing.T) {
	for _, improved := range []bool{false, true} {
		ct, err := sde.NewConsistency(sde.Consistency{Eps: 0.002, T: 80, SigmaData: 0.5, Rho: 7, S0: 2, S1: 150, Mu0: 0.9, K: 7000,
			Improved: improved, PMean: -1.1, PStd: 2})
		if err != nil {
			t.Fatal(err)
		}
		other := *ct
		if other.Rho = 5; improved {
			other.Rho, other.PMean = 7, 1
		}
		for _, step := range []uint64{0, 400, 3333, 9000} {
			if msg := ctPairMismatch(ct, ct, step); msg != "" {
				t.Errorf("improved %v, step %d (N = %d): %s", improved, step, ct.Steps(int(step)), msg)
			}
			if ct.Steps(int(step)) > 2 && ctPairMismatch(ct, &other, step) == "" { // 2 points are eps and T for any rho
				t.Errorf("improved %v, step %d: the kernel with %+v draws the pair of %+v", improved, step, other, *ct)
			}
		}
	}
}

// ctPairMismatch runs c's Pair and Inputs on the CPU and the kernel with
// k's schedule on the same batch, and says where they first disagree; ""
// where they agree.
func ctPairMismatch(c, k *sde.Consistency, step uint64) string {
	rng := rand.New(rand.NewPCG(5, step))
	const batch, d, seed = 7, 9, 31
	x0 := randn(rng, batch*d)
	inputs := func() sde.ConsistencyInputs {
		return sde.ConsistencyInputs{X: make([]float32, batch*d), T: make([]float32, batch), Skip: make([]float32, batch*d), Out: make([]float32, batch)}
	}
	on, tg, gon, gtg := inputs(), inputs(), inputs(), inputs()
	tHi, tLo := make([]float64, batch), make([]float64, batch)
	c.Pair(x0, on.X, tg.X, tHi, tLo, c.Steps(int(step)), seed, step)
	c.Inputs(on, on.X, tHi)
	c.Inputs(tg, tg.X, tLo)
	weight := make([]float32, batch)
	ConsistencyPair(gon, gtg, weight, x0, k, seed, step)
	for i := range batch {
		if want := float32(c.PairWeight(tHi[i], tLo[i])); weight[i] != want {
			return fmt.Sprintf("sample %d: weight %v vs %v", i, weight[i], want)
		}
	}
	for _, net := range []struct {
		name      string
		cpu, kern sde.ConsistencyInputs
	}{{"online", on, gon}, {"target", tg, gtg}} {
		for i := range batch {
			if ulps(net.kern.T[i], net.cpu.T[i]) > 1 || net.kern.Out[i] != net.cpu.Out[i] {
				return fmt.Sprintf("%s sample %d: time input %v vs %v, c_out %v vs %v", net.name, i, net.kern.T[i], net.cpu.T[i], net.kern.Out[i], net.cpu.Out[i])
			}
		}
		for j := range x0 {
			if net.kern.X[j] != net.cpu.X[j] || net.kern.Skip[j] != net.cpu.Skip[j] {
				return fmt.Sprintf("%s element %d: x %v vs %v, skip %v vs %v", net.name, j, net.kern.X[j], net.cpu.X[j], net.kern.Skip[j], net.cpu.Skip[j])
			}
		}
	}
	return ""
}

// The label drop kernel draws score.DropLabels' keep and null bit for bit
// (labelDrop.draw's, for class-conditional training), over a batch that
// ends in a partial Philox block, at keys below and above 2^32 (the key's
// high word is the counter's last), with labels both kept and dropped;
// and at a p equal to a drawn uniform, whose label both keep (u < p is
// strict).
func TestLabelDropKernelMatchesScore(t *testing.T) {
	const batch, seed = 37, 0x1234_5678_9abc
	check := func(prob float64, key uint64) (dropped int) {
		keep, null := make([]float32, batch), make([]float32, batch)
		score.DropLabels(keep, null, prob, seed, key)
		gkeep, gnull := make([]float32, batch), make([]float32, batch)
		LabelDrop(gkeep, gnull, prob, seed, key)
		for i := range keep {
			if math.Float32bits(gkeep[i]) != math.Float32bits(keep[i]) || math.Float32bits(gnull[i]) != math.Float32bits(null[i]) {
				t.Fatalf("p %v, key %d, sample %d: keep %v, null %v from the kernel; %v, %v from score.DropLabels", prob, key, i, gkeep[i], gnull[i], keep[i], null[i])
			}
			dropped += int(null[i])
		}
		return dropped
	}
	dropped := 0
	for _, key := range []uint64{0, 12, 1<<32 + 7} {
		dropped += check(0.3, key)
	}
	if dropped == 0 || dropped == 3*batch {
		t.Fatalf("%d of %d labels dropped with p 0.3", dropped, 3*batch)
	}
	u := make([]float32, batch)
	sde.Uniforms(u, seed, sde.StreamUncond, 12, 0)
	check(float64(u[5]), 12)
}

// The normals kernel (the samplers' prior) draws philox.NormalPair's
// numbers in the documented layout, from element off on.
func TestNormalsKernelMatchesPhilox(t *testing.T) {
	const n, seed, stream, draw, off = 10, 5, 0x5DE00003, 0, 4*12345 + 3
	got := make([]float32, n)
	Normals(got, 2, seed, stream, draw, off)
	for i := range n {
		j := off + i
		r := philox.Block(philox.Counter(j/4, stream, draw), philox.Key(seed))
		z0, z1 := philox.NormalPair(r[j%4&2], r[j%4&2+1])
		want := float32(2 * float64(float32([]float64{z0, z1}[j%2])))
		if ulps(got[i], want) > 1 {
			t.Fatalf("element %d: %v from the kernel, want %v", j, got[i], want)
		}
	}
}

// The predictor kernel is sde's Euler-Maruyama update on the network's
// output, with StreamPredictor's noise from element ctl.Offset on; the
// corrector's noise is StreamCorrector's from there; and mode off leaves x
// alone.
func TestSamplerKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	const n, seed, draw, off = 9, 3, 5, 3 * 9
	x0, eps := randn(rng, n), randn(rng, n)
	ctl := SamplerCtl{T: 0.5, F: -0.7, G2: 2.25, DT: -0.01, Noise: 1.5 * 0.1, Draw: draw, ScoreScale: float64(float32(-1 / 0.8)), Mode: 1, Seed: seed, Offset: off}
	x := append([]float32(nil), x0...)
	EMStep(x, eps, &ctl)
	for j := range x {
		r := philox.Block(philox.Counter((off+j)/4, sde.StreamPredictor, draw), philox.Key(seed))
		z0, z1 := philox.NormalPair(r[(off+j)%4&2], r[(off+j)%4&2+1])
		z := float32([]float64{z0, z1}[(off+j)%2])
		s := eps[j] * float32(ctl.ScoreScale)
		want := float32(float64(x0[j]) + (ctl.F*float64(x0[j])-ctl.G2*float64(s))*ctl.DT + ctl.Noise*float64(z))
		if ulps(x[j], want) > 1 {
			t.Fatalf("em_step element %d: %v, want %v", j, x[j], want)
		}
	}
	ctl.Mode = 2
	zs := make([]float32, n)
	LangevinNoise(zs, &ctl)
	want := make([]float32, n)
	Normals(want, 1, seed, sde.StreamCorrector, draw, off)
	assertClose(t, "langevin_noise", zs, want, 0)

	ctl.Mode = 0
	y := append([]float32(nil), x0...)
	EMStep(y, eps, &ctl)
	assertClose(t, "em_step off", y, x0, 0)
}

// standIn is the sampler tests' stand-in network: its output at x and
// time t is sin(x)(1 + t), a noise prediction or a velocity.
func standIn(x []float32, t float32) []float32 {
	out := make([]float32, len(x))
	for j, v := range x {
		out[j] = float32(math.Sin(float64(v)) * (1 + float64(t)))
	}
	return out
}

// The level kernel, run as score's fused sampler runs it (the prior by the
// normals kernel, then one level_step per sde.LevelStep), samples what
// sde.Ancestral (VP and VE), sde.DDIM (eta 0.5) and sde.AnnealedLangevin
// (VE) sample on the CPU with the same stand-in network, whose noise
// prediction is sin(x)(1 + t): the schedule's A, B and C, its noise from
// the step's stream and draw at the batch's offset, no noise on the last
// step. In another mode it leaves x
// alone.
func TestLevelKernelSamplesAsTheCPU(t *testing.T) {
	vp, _ := sde.NewVP(0.1, 20, 1000)
	ve, _ := sde.NewVE(0.01, 50, 1000)
	const batch, d, steps, eps, seed, first = 2, 9, 4, 1e-3, 7, 3
	for _, c := range []struct {
		name  string
		s     sde.SDE
		sched func() ([]sde.LevelStep, error)
		cpu   func(score sde.ScoreFunc, x []float32) error
	}{
		{"VP ancestral", vp, func() ([]sde.LevelStep, error) { return sde.AncestralSchedule(vp, steps, eps) },
			func(f sde.ScoreFunc, x []float32) error {
				return sde.Ancestral(vp, f, x, batch, steps, eps, seed, first, nil)
			}},
		{"VE ancestral", ve, func() ([]sde.LevelStep, error) { return sde.AncestralSchedule(ve, steps, eps) },
			func(f sde.ScoreFunc, x []float32) error {
				return sde.Ancestral(ve, f, x, batch, steps, eps, seed, first, nil)
			}},
		{"VP DDIM", vp, func() ([]sde.LevelStep, error) { return sde.DDIMSchedule(vp, steps, 0.5, eps) },
			func(f sde.ScoreFunc, x []float32) error {
				return sde.DDIM(vp, f, x, batch, steps, 0.5, eps, seed, first, nil)
			}},
		{"VE annealed Langevin", ve, func() ([]sde.LevelStep, error) { return sde.AnnealedLangevinSchedule(ve, steps, 2, 2e-5, eps) },
			func(f sde.ScoreFunc, x []float32) error {
				return sde.AnnealedLangevin(ve, f, x, batch, steps, 2, 2e-5, eps, seed, first, nil)
			}},
	} {
		score := func(x, tt, out []float32) error { // as score.ScoreModel's: -eps_hat/std(t) in float
			e := standIn(x, tt[0])
			scale := float32(-1 / c.s.Std(float64(tt[0])))
			for j := range out {
				out[j] = e[j] * scale
			}
			return nil
		}
		want := make([]float32, batch*d)
		if err := c.cpu(score, want); err != nil {
			t.Fatal(err)
		}
		sched, err := c.sched()
		if err != nil {
			t.Fatal(err)
		}
		x := make([]float32, batch*d)
		Normals(x, c.s.PriorStd(), seed, sde.StreamPrior, 0, first*d)
		for _, st := range sched {
			ctl := SamplerCtl{T: st.T, ScoreScale: float64(float32(-1 / st.Std)), Mode: 3, Seed: seed, Draw: st.Draw, Offset: first * d, A: st.A, B: st.B, C: st.C, Stream: uint64(st.Stream)}
			LevelStep(x, standIn(x, float32(st.T)), &ctl)
		}
		assertClose(t, c.name, x, want, 1e-5)
	}
	x := []float32{0.5, -1}
	LevelStep(x, []float32{1, 1}, &SamplerCtl{Mode: 1, A: 2, B: 1, ScoreScale: 1})
	assertClose(t, "level_step in predictor mode", x, []float32{0.5, -1}, 0)
}

// The consistency sampling kernels, run as score's fused sampler runs them
// (the prior by the normals kernel at std T, then per sde.ConsistencyStep
// ct_sample_in, the network, ct_sample_out), sample what sde.Consistency's
// Sample samples on the CPU in 1, 2 and 3 steps with score.ScoreModel's
// consistency function around a stand-in network (sin(x)(1 + t) at the
// input c_in x and time c_noise(t)): within 1e-6, as a normal drawn by the
// kernel (C's log and sincos) may differ from the CPU's (Go's) in its last
// bit. In another mode they leave x alone.
func TestConsistencyKernelsSampleAsTheCPU(t *testing.T) {
	ct, err := sde.NewConsistency(sde.Consistency{Eps: 0.002, T: 80, SigmaData: 0.5, Rho: 7, S0: 2, S1: 150, Mu0: 0.9, K: 7000})
	if err != nil {
		t.Fatal(err)
	}
	const batch, d, seed, first = 2, 9, 11, 4
	f := func(x, tt, out []float32) error { // as score.ScoreModel's consistency
		in := sde.ConsistencyInputs{X: make([]float32, len(x)), Skip: make([]float32, len(x)), T: make([]float32, batch), Out: make([]float32, batch)}
		t64 := make([]float64, batch)
		for i, v := range tt {
			t64[i] = float64(v)
		}
		ct.Inputs(in, x, t64)
		net := standIn(in.X, in.T[0])
		for j := range out {
			out[j] = min(max(in.Skip[j]+in.Out[j/d]*net[j], -1), 1)
		}
		return nil
	}
	for _, n := range []int{1, 2, 3} {
		ts, err := ct.SampleTimes(n)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]float32, batch*d)
		if err := ct.Sample(f, want, batch, ts, seed, first, nil); err != nil {
			t.Fatal(err)
		}
		steps, err := ct.SampleSteps(ts)
		if err != nil {
			t.Fatal(err)
		}
		x, v := make([]float32, batch*d), make([]float32, batch*d)
		Normals(x, ts[0], seed, sde.StreamPrior, 0, first*d)
		for _, st := range steps {
			cSkip, cOut, cIn, cNoise := ct.Scalings(st.T)
			ctl := SamplerCtl{T: float64(float32(cNoise)), Mode: 5, Seed: seed, Draw: st.Draw, Stream: uint64(st.Stream), Offset: first * d,
				Noise: st.Noise, A: cIn, B: cSkip, C: float64(float32(cOut))}
			ConsistencySampleIn(x, v, &ctl)
			ConsistencySampleOut(x, v, standIn(x, float32(ctl.T)), &ctl)
		}
		assertClose(t, fmt.Sprintf("%d steps", n), x, want, 1e-6)
	}
	x := []float32{0.5, -1}
	ConsistencySampleIn(x, make([]float32, 2), &SamplerCtl{Mode: 3, A: 2})
	ConsistencySampleOut(x, []float32{1, 1}, []float32{1, 1}, &SamplerCtl{Mode: 3, B: 1, C: 1})
	assertClose(t, "consistency kernels in level mode", x, []float32{0.5, -1}, 0)
}

// The fixed-step ODE kernels, run as score's fused sampler runs them (the
// prior by the normals kernel, ode_begin, then one ode_step per
// sde.ODEEval), sample what sde.ODEEuler (VP, Euler and Heun) and
// sde.FlowSample (Heun) sample on the CPU with a stand-in network, whose
// output is sin(x)(1 + t): bit for bit, since both compute in float64
// with the same operations. In another mode ode_step leaves x alone.
func TestODEKernelsSampleAsTheCPU(t *testing.T) {
	vp, _ := sde.NewVP(0.1, 20, 1000)
	const batch, d, steps, eps, seed, first = 2, 9, 3, 1e-3, 8, 5
	for _, c := range []struct {
		name     string
		s        sde.SDE // nil: a flow's velocity
		heun     bool
		priorStd float64
	}{{"VP ode-euler", vp, false, vp.PriorStd()}, {"VP heun", vp, true, vp.PriorStd()}, {"flow heun", nil, true, 1}} {
		var cpu func(f sde.ScoreFunc, x []float32) error
		var sched sde.ODESchedule
		var err error
		f := func(x, tt, out []float32) error { // a velocity, or as score.ScoreModel's score: -eps_hat/std(t) in float
			scale := float32(1)
			if c.s != nil {
				scale = float32(-1 / c.s.Std(float64(tt[0])))
			}
			for j, v := range standIn(x, tt[0]) {
				out[j] = v * scale
			}
			return nil
		}
		if c.s != nil {
			cpu = func(f sde.ScoreFunc, x []float32) error {
				return sde.ODEEuler(c.s, f, x, batch, steps, eps, c.heun, seed, first, nil)
			}
			sched, err = sde.ODEEulerSchedule(c.s, steps, eps, c.heun)
		} else {
			method := map[bool]string{false: "ode-euler", true: "heun"}[c.heun]
			cpu = func(f sde.ScoreFunc, x []float32) error {
				_, err := sde.FlowSample(f, x, batch, method, steps, sde.Tolerances{}, seed, first, nil)
				return err
			}
			sched, err = sde.FlowEulerSchedule(steps, c.heun)
		}
		if err != nil {
			t.Fatal(err)
		}
		want := make([]float32, batch*d)
		if err := cpu(f, want); err != nil {
			t.Fatal(err)
		}
		x := make([]float32, batch*d)
		y, d1 := make([]float64, len(x)), make([]float64, len(x))
		Normals(x, c.priorStd, seed, sde.StreamPrior, 0, first*d)
		ODEBegin(x, y, sched.M0)
		for _, e := range sched.Evals {
			scale := 1.0
			if e.Std != 0 {
				scale = float64(float32(-1 / e.Std))
			}
			ctl := SamplerCtl{T: e.T, ScoreScale: scale, Mode: 4, Phase: int64(e.Phase), K: e.K, H: e.H, MNext: e.MNext}
			ODEStep(x, y, d1, standIn(x, float32(e.T)), &ctl)
		}
		assertClose(t, c.name, x, want, 0)
	}
	x := []float32{0.5, -1}
	ODEStep(x, []float64{3, 3}, []float64{1, 1}, []float32{1, 1}, &SamplerCtl{Mode: 3, K: 1, H: 1, MNext: 1, ScoreScale: 1})
	assertClose(t, "ode_step in level mode", x, []float32{0.5, -1}, 0)
}

// Every activation and its derivative, and the broadcasting kernels with
// the strides nn/arith_gpu.go and nn/reduce_gpu.go compute, against the CPU
// ops; and the time embedding.
func TestElementwiseKernelsMatchTheCPUOps(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 12))
	x := randn(rng, 60)
	pos := make([]float32, len(x)) // Log's and Sqrt's domain
	for i, v := range x {
		pos[i] = float32(math.Abs(float64(v))) + 0.1
	}
	for _, act := range []nn.Act{nn.Identity, nn.SiLU, nn.ReLU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.Exp, nn.Log, nn.Softplus, nn.Sqrt} {
		x := x
		if act == nn.Log || act == nn.Sqrt {
			x = pos
		}
		y, dy, grads := gradients(t, func(g *gorgonia.ExprGraph) (*gorgonia.Node, []*gorgonia.Node) {
			xn := input(g, "x", 60)
			y, err := nn.Activate(xn, act, 0.2)
			if err != nil {
				t.Fatal(err)
			}
			return y, []*gorgonia.Node{xn}
		}, [][]float32{x}, func(k int) []float32 { return randn(rng, k) })
		got, dx := make([]float32, 60), make([]float32, 60)
		ActFwd(got, x, int(act), 0.2)
		ActBwd(dx, x, dy, int(act), 0.2)
		assertClose(t, act.String(), got, y, 1e-6)
		assertClose(t, act.String()+" derivative", dx, grads[0], 1e-6)

		// The gradient of dx = f'(x) w by x and w, against sum(dx * v):
		// f''(x) w v (act_bwd2) and f'(x) v (act_bwd).
		w := randn(rng, 60)
		_, v, grads2 := gradients(t, func(g *gorgonia.ExprGraph) (*gorgonia.Node, []*gorgonia.Node) {
			xn, wn := input(g, "x", 60), input(g, "w", 60)
			y, err := nn.Activate(xn, act, 0.2)
			if err == nil {
				y, err = nn.Binary(nn.Mul, y, wn)
			}
			if err == nil {
				y, err = nn.Sum(y)
			}
			if err != nil {
				t.Fatal(err)
			}
			dx, err := gorgonia.Grad(y, xn)
			if err != nil {
				t.Fatal(err)
			}
			return dx[0], []*gorgonia.Node{xn, wn}
		}, [][]float32{x, w}, func(k int) []float32 { return randn(rng, k) })
		d2, dw := make([]float32, 60), make([]float32, 60)
		ActBwd2(d2, x, w, v, int(act), 0.2)
		ActBwd(dw, x, v, int(act), 0.2)
		assertClose(t, act.String()+" second derivative", d2, grads2[0], 1e-6)
		assertClose(t, act.String()+" derivative by dy", dw, grads2[1], 1e-6)
	}

	// [2,1,4,5] * [2,3,1,5] -> [2,3,4,5], and [1,3,1,5] expanded to it.
	a, b, small := randn(rng, 40), randn(rng, 30), randn(rng, 15)
	g := gorgonia.NewGraph()
	an, bn, sn := input(g, "a", 2, 1, 4, 5), input(g, "b", 2, 3, 1, 5), input(g, "s", 1, 3, 1, 5)
	prod, err := nn.Binary(nn.Mul, an, bn)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := nn.Binary(nn.Add, prod, sn) // s broadcast and added: what expand computes, plus prod
	if err != nil {
		t.Fatal(err)
	}
	want := cpuRun(t, map[*gorgonia.Node][]float32{an: a, bn: b, sn: small}, prod, sum)
	d := [4]int{2, 3, 4, 5}
	got := make([]float32, 120)
	Binary(got, a, b, int(nn.Mul), d, [4]int{20, 0, 5, 1}, [4]int{15, 5, 0, 1})
	assertClose(t, "broadcast multiply", got, want[0], 0)
	ex := make([]float32, 120)
	Expand(ex, small, 1, d, [4]int{0, 5, 0, 1})
	for i := range ex {
		ex[i] += got[i]
	}
	assertClose(t, "expand", ex, want[1], 1e-6)

	tt := []float32{0, 0.25, 0.9}
	gt := gorgonia.NewGraph()
	tn := input(gt, "t", 3)
	emb, err := nn.Sinusoidal(tn, 16, 1000)
	if err != nil {
		t.Fatal(err)
	}
	wantEmb := cpuRun(t, map[*gorgonia.Node][]float32{tn: tt}, emb)[0]
	gotEmb := make([]float32, 48)
	SinusoidalFwd(gotEmb, tt, 16, 1000)
	assertClose(t, "sinusoidal embedding", gotEmb, wantEmb, 1e-6)
}
