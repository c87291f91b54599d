package vae

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/model"
	"github.com/scoregen/scoregen/optim"
)

// newFamily is the VAE of the default config with the --set overrides.
func newFamily(t testing.TB, sets ...string) *Family {
	t.Helper()
	cfg, err := configs.Load("", append([]string{"model.type=vae"}, sets...))
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// trainer steps a family's training graph with Adam on the CPU, as the
// trainer does (without EMA or checkpoints): a test's stand-in for train.
type trainer struct {
	tg      *model.TrainGraph
	plan    *engine.Plan
	cpu     *engine.CPU
	adam    *optim.Adam
	opt     optim.Settings
	metrics []model.Metric
	params  [][]float32
	grads   [][]float32
	steps   int
}

func newTrainer(t testing.TB, f *Family, batch int, seed uint64) *trainer {
	t.Helper()
	tg, err := f.TrainGraph(batch, seed)
	if err != nil {
		t.Fatal(err)
	}
	u, grp := tg.Updates[0], tg.Groups[0]
	grads, err := gorgonia.Grad(u.Loss, grp.Params...)
	if err != nil {
		t.Fatal(err)
	}
	outs := gorgonia.Nodes{u.Loss}
	for _, m := range u.Metrics {
		outs = append(outs, m.Node)
	}
	cpu := engine.NewCPU()
	plans, err := engine.CompileShared(cpu, append(outs, grads...))
	if err != nil {
		t.Fatal(err)
	}
	tr := &trainer{tg: tg, plan: plans[0], cpu: cpu, opt: grp.Optim, metrics: append([]model.Metric{{Name: "loss", Node: u.Loss}}, u.Metrics...)}
	view := func(n *gorgonia.Node) []float32 {
		s, ok := tr.plan.Slot(n)
		if !ok {
			t.Fatalf("no slot for %s", n.Name())
		}
		return cpu.View(s)
	}
	for i, p := range grp.Params {
		tr.params = append(tr.params, view(p))
		tr.grads = append(tr.grads, view(grads[i]))
	}
	tr.adam = optim.NewAdam(tr.params, tr.grads, grp.Optim.Beta1, grp.Optim.Beta2, grp.Optim.Eps)
	return tr
}

// step runs one update on the batch x and returns its metrics by name.
func (tr *trainer) step(t testing.TB, x []float32) map[string]float64 {
	t.Helper()
	tr.tg.RNG.Step = uint64(tr.steps)
	if err := tr.plan.Write(tr.tg.X, x); err != nil {
		t.Fatal(err)
	}
	for _, s := range tr.tg.Schedules {
		if err := tr.plan.Write(s.Node, []float32{s.Value(tr.steps)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.plan.Run(); err != nil {
		t.Fatal(err)
	}
	tr.steps++
	clip := optim.ClipScale(optim.GlobalNorm(tr.grads), tr.opt.Clip)
	tr.adam.Update(tr.opt.LRAt(tr.steps), clip)
	out := map[string]float64{}
	v := []float32{0}
	for _, m := range tr.metrics {
		if err := tr.plan.Read(m.Node, v); err != nil {
			t.Fatal(err)
		}
		out[m.Name] = float64(v[0])
	}
	return out
}

// weights are the trainer's current parameters by name, as a checkpoint's.
func (tr *trainer) weights() model.Weights {
	m := map[string][]float32{}
	for i, p := range tr.tg.Groups[0].Params {
		m[p.Name()] = append([]float32(nil), tr.params[i]...)
	}
	return func(name string) ([]float32, bool) { v, ok := m[name]; return v, ok }
}

// blobs is n synthetic grey images in [-1, 1], each one of four
// prototypes (a bright square in one quadrant) with pixel noise: data with
// structure that a VAE can learn in a few steps.
func blobs(n, h, w int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 3))
	x := make([]float32, n*h*w)
	for i := range n {
		q := rng.IntN(4)
		for r := range h {
			for c := range w {
				v := -0.9
				if (r < h/2) == (q < 2) && (c < w/2) == (q%2 == 0) {
					v = 0.9
				}
				x[(i*h+r)*w+c] = float32(math.Max(-1, math.Min(1, v+0.1*rng.NormFloat64())))
			}
		}
	}
	return x
}
