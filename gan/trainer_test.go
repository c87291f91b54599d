package gan

import (
	"fmt"
	"math"
	"testing"

	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/model"
	"github.com/scoregen/scoregen/optim"
)

// testTrainer runs a model.TrainGraph as the trainer does, on the CPU: one
// plan per update compiled together (engine.CompileShared), each update's
// gradient by its own group's parameters, Adam per group, BatchNorm's
// running statistics after the update that computes them. Extra output
// sets (evaluations) get plans of their own on the same weights.
type testTrainer struct {
	tg    *model.TrainGraph
	cpu   *engine.CPU
	plans []*engine.Plan // one per update, then the extra ones
	adams []*optim.Adam  // one per group
	key   uint64         // the RNG.Step of the next update run
}

func newTestTrainer(t testing.TB, tg *model.TrainGraph, extra ...gorgonia.Nodes) *testTrainer {
	t.Helper()
	var outputs []gorgonia.Nodes
	grads := make([]gorgonia.Nodes, len(tg.Updates))
	for i, u := range tg.Updates {
		var err error
		if grads[i], err = gorgonia.Grad(u.Loss, tg.Groups[u.Group].Params...); err != nil {
			t.Fatalf("update %s: gradient: %v", u.Name, err)
		}
		outs := append(gorgonia.Nodes{u.Loss}, grads[i]...)
		for _, m := range u.Metrics {
			outs = append(outs, m.Node)
		}
		for _, s := range tg.State {
			if s.Update == i { // the running value too: in training it is read by no op
				outs = append(outs, s.Batch, s.Value)
			}
		}
		outputs = append(outputs, outs)
	}
	tr := &testTrainer{tg: tg, cpu: engine.NewCPU()}
	var err error
	if tr.plans, err = engine.CompileShared(tr.cpu, append(outputs, extra...)...); err != nil {
		t.Fatal(err)
	}
	tr.adams = make([]*optim.Adam, len(tg.Groups))
	for i, u := range tg.Updates {
		grp := tg.Groups[u.Group]
		var ps, gs [][]float32
		for k, p := range grp.Params {
			ps = append(ps, tr.view(t, tr.plans[i], p))
			gs = append(gs, tr.view(t, tr.plans[i], grads[i][k]))
		}
		tr.adams[u.Group] = optim.NewAdam(ps, gs, grp.Optim.Beta1, grp.Optim.Beta2, grp.Optim.Eps)
	}
	return tr
}

func (tr *testTrainer) view(t testing.TB, p *engine.Plan, n *gorgonia.Node) []float32 {
	t.Helper()
	s, ok := p.Slot(n)
	if !ok {
		t.Fatalf("node %s is not in the plan", n.Name())
	}
	return tr.cpu.View(s)
}

// step runs every update of one step, each Repeat times; data fills the
// real batch of each update that reads it. It returns each update's last
// loss and fails on a loss that is not finite.
func (tr *testTrainer) step(t testing.TB, data func(x []float32)) []float64 {
	t.Helper()
	losses := make([]float64, len(tr.tg.Updates))
	for i, u := range tr.tg.Updates {
		p, grp := tr.plans[i], tr.tg.Groups[u.Group]
		for range max(u.Repeat, 1) {
			tr.tg.RNG.Step = tr.key
			tr.key++
			if u.Data {
				data(tr.view(t, p, tr.tg.X))
			}
			if err := p.Run(); err != nil {
				t.Fatal(err)
			}
			loss := float64(tr.view(t, p, u.Loss)[0])
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				t.Fatalf("update %s: loss %v", u.Name, loss)
			}
			losses[i] = loss
			tr.adams[u.Group].Update(grp.Optim.LR, 1)
			for _, s := range tr.tg.State {
				if s.Update == i {
					v, b := tr.view(t, p, s.Value), tr.view(t, p, s.Batch)
					for k := range v {
						v[k] = float32((1-s.Momentum)*float64(v[k]) + s.Momentum*float64(b[k]))
					}
				}
			}
		}
	}
	return losses
}

// read is the value of n after the last run of plan i.
func (tr *testTrainer) read(t testing.TB, i int, n *gorgonia.Node) []float32 {
	t.Helper()
	out := make([]float32, max(n.Shape().TotalSize(), 1))
	if err := tr.plans[i].Read(n, out); err != nil {
		t.Fatal(fmt.Errorf("reading %s: %w", n.Name(), err))
	}
	return out
}
