package score

import (
	"math"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/data"
	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/model"
	"github.com/scoregen/scoregen/sde"
)

// consistencySets make smallFamily a consistency model.
var consistencySets = []string{"model.objective=consistency", "sample.sampler=consistency", "sample.steps=2"}

// TestConsistencyGraph runs the training graph's plan: with the online
// network's inputs at t = eps, f(x, eps) is x exactly, whatever the
// network (cSkip = 1, cOut = 0), and the loss is the batch mean of the
// squared distance to the target's f summed over pixels; with both
// networks at the same point, the twin (equal weights, the same dropout
// masks) makes the loss 0 exactly.
func TestConsistencyGraph(t *testing.T) {
	f, _ := smallFamily(t, append(consistencySets, "model.dropout=0.3")...)
	const batch, d = 2, 28 * 28
	cg, err := newConsistencyGraph(f.Net, batch, 3, false)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := engine.Compile(gorgonia.Nodes{cg.fOnline, cg.fTarget, cg.loss}, engine.NewCPU())
	if err != nil {
		t.Fatal(err)
	}
	cg.online.RNG.Step = 5
	x, y := make([]float32, batch*d), make([]float32, batch*d)
	for j := range x {
		x[j], y[j] = float32(math.Sin(float64(j))), float32(math.Cos(float64(j)))
	}
	write := func(nodes ctNodes, x []float32, t float64) {
		in := sde.ConsistencyInputs{X: make([]float32, len(x)), Skip: make([]float32, len(x)), T: make([]float32, batch), Out: make([]float32, batch)}
		f.CT.Inputs(in, x, []float64{t, t})
		for _, w := range []struct {
			n *gorgonia.Node
			v []float32
		}{{nodes.X, in.X}, {nodes.T, in.T}, {nodes.Skip, in.Skip}, {nodes.Out, in.Out}} {
			if err := plan.Write(w.n, w.v); err != nil {
				panic(err)
			}
		}
	}
	read := func(n *gorgonia.Node, size int) []float32 {
		v := make([]float32, size)
		if err := plan.Read(n, v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	write(cg.onlineIn, x, f.CT.Eps)
	write(cg.targetIn, y, 1.5)
	if err := plan.Run(); err != nil {
		t.Fatal(err)
	}
	if got := read(cg.fOnline, batch*d); !slices.Equal(got, x) {
		t.Error("f(x, eps) is not x through the training graph")
	}
	target := read(cg.fTarget, batch*d)
	var want float64
	for j, v := range target {
		e := float64(x[j]) - float64(v)
		want += e * e / batch
	}
	if loss := float64(read(cg.loss, 1)[0]); math.Abs(loss-want) > 1e-5*want {
		t.Errorf("loss %v, want the batch mean of the summed squares %v", loss, want)
	}
	write(cg.onlineIn, y, 1.5)
	if err := plan.Run(); err != nil {
		t.Fatal(err)
	}
	if loss := read(cg.loss, 1)[0]; loss != 0 {
		t.Errorf("the networks at the same point: loss %v, want 0 (equal weights, the same dropout masks)", loss)
	}
}

// TestConsistencyObjective checks model.objective consistency's family:
// the training step draws sde.Consistency's pair on N(k) points at k =
// the key and writes each network's inputs; the target's weights are
// State named target.*, starting equal to the online ones and following
// them with 1 - mu(k); the sampler draws 1 and 2 steps at one network
// evaluation each, an image the same alone as in a batch; and what needs
// an SDE is refused.
func TestConsistencyObjective(t *testing.T) {
	f, w := smallFamily(t, consistencySets...)
	const batch, d = 2, 28 * 28
	tg, err := f.TrainGraph(batch, 3)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := tg.Prepare.(*ConsistencyPerturb)
	if !ok {
		t.Fatalf("the consistency objective prepares with %T", tg.Prepare)
	}
	x0 := make([]float32, batch*d)
	for j := range x0 {
		x0[j] = float32(math.Cos(float64(j)))
	}
	inputs := map[*gorgonia.Node][]float32{}
	for _, n := range []ctNodes{p.Online, p.Target} {
		for _, node := range []*gorgonia.Node{n.X, n.T, n.Skip, n.Out} {
			inputs[node] = make([]float32, node.Shape().TotalSize())
		}
	}
	const key = 400 // N(400) = 37 of 151 points with total_steps 7000
	p.PrepareHost(x0, key, func(n *gorgonia.Node) []float32 { return inputs[n] })
	hi, lo := make([]float32, batch*d), make([]float32, batch*d)
	tHi, tLo := make([]float64, batch), make([]float64, batch)
	f.CT.Pair(x0, hi, lo, tHi, tLo, f.CT.Steps(key), 3, key)
	if f.CT.Steps(key) == f.CT.Steps(0) || f.CT.Steps(key) == f.CT.Steps(f.CT.K) {
		t.Fatalf("N(%d) = %d: pick a key inside the schedule", key, f.CT.Steps(key))
	}
	for side, c := range []struct {
		n  ctNodes
		x  []float32
		ts []float64
	}{{p.Online, hi, tHi}, {p.Target, lo, tLo}} {
		want := sde.ConsistencyInputs{X: make([]float32, batch*d), Skip: make([]float32, batch*d), T: make([]float32, batch), Out: make([]float32, batch)}
		f.CT.Inputs(want, c.x, c.ts)
		if !slices.Equal(inputs[c.n.X], want.X) || !slices.Equal(inputs[c.n.T], want.T) || !slices.Equal(inputs[c.n.Skip], want.Skip) || !slices.Equal(inputs[c.n.Out], want.Out) {
			t.Errorf("network %d's inputs are not sde.Consistency's pair at N(k)", side)
		}
	}
	params := tg.Groups[0].Params
	if len(tg.State) != len(params) {
		t.Fatalf("%d state tensors for %d parameters", len(tg.State), len(params))
	}
	for i, s := range tg.State {
		v, q := s.Value.Value().Data().([]float32), params[i].Value().Data().([]float32)
		if s.Batch != params[i] || s.Value.Name() != TargetPrefix+params[i].Name() || !slices.Equal(v, q) {
			t.Fatalf("state %d: %s following %s, not the twin of parameter %s", i, s.Value.Name(), s.Batch.Name(), params[i].Name())
		}
		for _, k := range []int{0, key, 7000} {
			if m := s.MomentumAt(k); m != 1-f.CT.Mu(k) {
				t.Fatalf("state %d: momentum %v at step %d, want 1 - mu(k) = %v", i, m, k, 1-f.CT.Mu(k))
			}
		}
	}
	for _, steps := range []int{1, 2} {
		c := f.cfg.Sample
		c.Steps, c.Seed = steps, 4
		both, nfe := draw(t, f, w, c, 2, 0)
		if nfe != steps {
			t.Errorf("%d steps: %d network evaluations", steps, nfe)
		}
		second, _ := draw(t, f, w, c, 1, 1)
		if !slices.Equal(second, both[d:]) {
			t.Errorf("%d steps: image 1 drawn alone differs from image 1 of a batch", steps)
		}
		for _, v := range both {
			if !(v >= -1 && v <= 1) {
				t.Fatalf("%d steps: sample value %v", steps, v)
			}
		}
	}
	test := &data.Dataset{Name: "test", C: 1, H: 28, W: 28, N: 2, Pixels: make([]byte, 2*d)}
	o := model.SampleOptions{Device: "cpu", Sample: f.cfg.Sample}
	if _, err := f.Likelihood(w, test, o); err == nil || !strings.Contains(err.Error(), "model.objective consistency has no SDE") {
		t.Errorf("the likelihood of a consistency model: %v", err)
	}
	if _, err := f.Interpolate(w, x0[:d], x0[d:], 1, 3, o); err == nil || !strings.Contains(err.Error(), "model.objective consistency has no SDE") {
		t.Errorf("interpolating with a consistency model: %v", err)
	}
	if _, err := f.Inpaint(w, x0, make([]float32, batch*d), batch, o); err == nil || !strings.Contains(err.Error(), "model.objective consistency has no SDE") {
		t.Errorf("inpainting with a consistency model: %v", err)
	}
}

// TestConsistencyClipsEachStep checks the sampler's consistency function,
// f(x, t) = cSkip x + cOut F clipped to the data's [-1, 1] at every step:
// at t = eps, f is x (cSkip = 1, cOut = 0 up to t's float32 rounding), so
// values past ±1 come out at ±1 and the rest as they went in; at t = 1.5
// it is the clip of cSkip x + cOut F with F the network's own output, some
// of which lies past ±1 before the clip.
func TestConsistencyClipsEachStep(t *testing.T) {
	f, w := smallFamily(t, consistencySets...)
	const batch = 2
	s, err := f.NewSampler(w, batch, model.SampleOptions{Device: "cpu", EMA: true, Sample: f.cfg.Sample})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := s.(*ScoreModel)
	x := make([]float32, batch*m.Dim)
	for j := range x {
		x[j] = float32(30 * math.Sin(float64(j)))
	}
	clip := func(v float32) float32 { return min(max(v, -1), 1) }
	out := make([]float32, len(x))
	eps := float32(f.CT.Eps)
	if err := m.consistency(x, []float32{eps, eps}, out); err != nil {
		t.Fatal(err)
	}
	for j, v := range out {
		if want := clip(x[j]); math.Abs(float64(v-want)) > 1e-6 {
			t.Fatalf("f(x, eps)[%d] = %v for x = %v, want %v", j, v, x[j], want)
		}
	}

	const tMid = 1.5
	in := sde.ConsistencyInputs{X: make([]float32, len(x)), Skip: make([]float32, len(x)), T: make([]float32, batch), Out: make([]float32, batch)}
	f.CT.Inputs(in, x, []float64{tMid, tMid})
	net := make([]float32, len(x))
	if err := m.forward(in.X, in.T, net); err != nil {
		t.Fatal(err)
	}
	if err := m.consistency(x, []float32{tMid, tMid}, out); err != nil {
		t.Fatal(err)
	}
	clipped := 0
	for j, v := range out {
		raw := in.Skip[j] + in.Out[j/m.Dim]*net[j]
		if raw < -1 || raw > 1 {
			clipped++
		}
		if want := clip(raw); v != want {
			t.Fatalf("f(x, %v)[%d] = %v, want the clip of cSkip x + cOut F = %v", tMid, j, v, want)
		}
	}
	if clipped == 0 {
		t.Fatal("no value of cSkip x + cOut F lies past ±1: the test checks no clip")
	}
}

// TestImprovedConsistency checks improved consistency training's family:
// the step writes the pairs' weights 1/(t_{n+1} - t_n) beside the inputs,
// the target copies the online weights after each step (mu = 0), and the
// loss is the batch mean of w_i (sqrt(||f_theta - f_theta-||^2 + c^2) - c)
// with c = 0.00054 sqrt(784), computed here from the two networks' outputs.
// Its mu0 of 0 is not read, so not refused.
func TestImprovedConsistency(t *testing.T) {
	f, _ := smallFamily(t, append(consistencySets, "consistency.improved=true", "consistency.s0=10", "consistency.s1=1280", "consistency.mu0=0")...)
	const batch, d = 2, 28 * 28
	tg, err := f.TrainGraph(batch, 3)
	if err != nil {
		t.Fatal(err)
	}
	p := tg.Prepare.(*ConsistencyPerturb)
	if p.Weight == nil {
		t.Fatal("improved training prepares no weights")
	}
	inputs := map[*gorgonia.Node][]float32{p.Weight: make([]float32, batch)}
	for _, n := range []ctNodes{p.Online, p.Target} {
		for _, node := range []*gorgonia.Node{n.X, n.T, n.Skip, n.Out} {
			inputs[node] = make([]float32, node.Shape().TotalSize())
		}
	}
	x0 := make([]float32, batch*d)
	const key = 2000 // the third stage: N = 41
	p.PrepareHost(x0, key, func(n *gorgonia.Node) []float32 { return inputs[n] })
	hi, lo := make([]float32, batch*d), make([]float32, batch*d)
	tHi, tLo := make([]float64, batch), make([]float64, batch)
	f.CT.Pair(x0, hi, lo, tHi, tLo, f.CT.Steps(key), 3, key)
	for i, w := range inputs[p.Weight] {
		if want := float32(1 / (tHi[i] - tLo[i])); w != want || f.CT.Steps(key) != 41 {
			t.Errorf("sample %d at N = %d: weight %v, want 1/(t_{n+1} - t_n) = %v", i, f.CT.Steps(key), w, want)
		}
	}
	for _, k := range []int{0, key} {
		if m := tg.State[0].MomentumAt(k); m != 1 {
			t.Errorf("step %d: the target takes %v of the online weights, want all (mu = 0)", k, m)
		}
	}

	cg, err := newConsistencyGraph(f.Net, batch, 3, true)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := engine.Compile(gorgonia.Nodes{cg.fOnline, cg.fTarget, cg.loss}, engine.NewCPU())
	if err != nil {
		t.Fatal(err)
	}
	write := func(n *gorgonia.Node, v []float32) {
		if err := plan.Write(n, v); err != nil {
			t.Fatal(err)
		}
	}
	for side, c := range []struct {
		n ctNodes
		t float64
	}{{cg.onlineIn, 1.5}, {cg.targetIn, 0.7}} {
		x := make([]float32, batch*d)
		for j := range x {
			x[j] = float32(math.Sin(float64(j + side)))
		}
		in := sde.ConsistencyInputs{X: make([]float32, len(x)), Skip: make([]float32, len(x)), T: make([]float32, batch), Out: make([]float32, batch)}
		f.CT.Inputs(in, x, []float64{c.t, c.t})
		write(c.n.X, in.X)
		write(c.n.T, in.T)
		write(c.n.Skip, in.Skip)
		write(c.n.Out, in.Out)
	}
	weights := []float32{2, 0.5}
	write(cg.weight, weights)
	if err := plan.Run(); err != nil {
		t.Fatal(err)
	}
	on, tgt, loss := make([]float32, batch*d), make([]float32, batch*d), make([]float32, 1)
	for _, r := range []struct {
		n *gorgonia.Node
		v []float32
	}{{cg.fOnline, on}, {cg.fTarget, tgt}, {cg.loss, loss}} {
		if err := plan.Read(r.n, r.v); err != nil {
			t.Fatal(err)
		}
	}
	c := 0.00054 * 28
	var want float64
	for i, w := range weights {
		var s float64
		for j := i * d; j < (i+1)*d; j++ {
			e := float64(on[j]) - float64(tgt[j])
			s += e * e
		}
		want += float64(w) * (math.Sqrt(s+c*c) - c) / batch
	}
	if math.Abs(float64(loss[0])-want) > 1e-5*want || want == 0 {
		t.Errorf("loss %v, want the weighted pseudo-Huber distance %v", loss[0], want)
	}
}
