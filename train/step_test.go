package train

import (
	"math"
	"slices"
	"testing"
)

// snapshot is a copy of the trainer's state (the CPU's state is views of
// the step's memory).
func snapshot(t *testing.T, tr *Trainer) *runState {
	t.Helper()
	s := state(t, tr)
	c := &runState{State: clone(s.State)}
	for _, g := range s.Groups {
		g.Params, g.EMA, g.M, g.V = clone(g.Params), clone(g.EMA), clone(g.M), clone(g.V)
		c.Groups = append(c.Groups, g)
	}
	return c
}

func clone(x [][]float32) [][]float32 {
	c := make([][]float32, len(x))
	for i := range x {
		c[i] = slices.Clone(x[i])
	}
	return c
}

// runPoisonedBatch runs tr's step on a batch holding a NaN, after one good
// step, and checks that the loss comes back NaN and that the weights, EMA,
// Adam's moments and counters are exactly as before it.
func runPoisonedBatch(t *testing.T, tr *Trainer) {
	t.Helper()
	if _, err := tr.TrainStep(); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, tr)
	x0 := make([]float32, len(tr.x0))
	x0[len(x0)/2] = float32(math.NaN())
	res, err := tr.dev.run(0, x0, tr.labels, uint64(tr.step), tr.step, 1e-3)
	if err != nil {
		t.Fatal(err)
	}
	if finite(res.loss) {
		t.Fatalf("a batch holding a NaN gave the loss %v (gradient norm %v)", res.loss, res.norm)
	}
	sameState(t, before, snapshot(t, tr))
}

// sameState fails the test unless the two states are equal bit for bit:
// weights, EMA, Adam's moments and the counters.
func sameState(t *testing.T, a, b *runState) {
	t.Helper()
	for g := range a.Groups {
		x, y := a.Groups[g], b.Groups[g]
		sameBits(t, "weights", x.Params, y.Params)
		sameBits(t, "EMA", x.EMA, y.EMA)
		sameBits(t, "Adam m", x.M, y.M)
		sameBits(t, "Adam v", x.V, y.V)
		if x.AdamStep != y.AdamStep || x.EMAUpdates != y.EMAUpdates {
			t.Fatalf("group %d counters: Adam %d and %d, EMA %d and %d", g, x.AdamStep, y.AdamStep, x.EMAUpdates, y.EMAUpdates)
		}
	}
	sameBits(t, "state tensors", a.State, b.State)
}

func TestPoisonedBatchChangesNothing(t *testing.T) {
	runPoisonedBatch(t, newTrainer(t, smallConfig(t, t.TempDir()), false))
}
