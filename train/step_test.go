package train

import (
	"math"
	"slices"
	"testing"
)

// snapshot is a copy of the trainer's state (the CPU's state is views of
// the step's memory).
func snapshot(t *testing.T, tr *Trainer) *optState {
	t.Helper()
	s := *state(t, tr)
	for _, part := range []*[][]float32{&s.Params, &s.EMA, &s.M, &s.V} {
		c := make([][]float32, len(*part))
		for i, x := range *part {
			c[i] = slices.Clone(x)
		}
		*part = c
	}
	return &s
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
	loss, norm, err := tr.dev.run(x0, uint64(tr.step), 1e-3)
	if err != nil {
		t.Fatal(err)
	}
	if finite(loss) {
		t.Fatalf("a batch holding a NaN gave the loss %v (gradient norm %v)", loss, norm)
	}
	sameState(t, before, snapshot(t, tr))
}

// sameState fails the test unless the two states are equal bit for bit:
// weights, EMA, Adam's moments and the counters.
func sameState(t *testing.T, a, b *optState) {
	t.Helper()
	sameBits(t, "weights", a.Params, b.Params)
	sameBits(t, "EMA", a.EMA, b.EMA)
	sameBits(t, "Adam m", a.M, b.M)
	sameBits(t, "Adam v", a.V, b.V)
	if a.AdamStep != b.AdamStep || a.EMAUpdates != b.EMAUpdates {
		t.Fatalf("counters: Adam %d and %d, EMA %d and %d", a.AdamStep, b.AdamStep, a.EMAUpdates, b.EMAUpdates)
	}
}

func TestPoisonedBatchChangesNothing(t *testing.T) {
	runPoisonedBatch(t, newTrainer(t, smallConfig(t, t.TempDir()), false))
}
