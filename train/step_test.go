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
	after := snapshot(t, tr)
	sameBits(t, "weights", before.Params, after.Params)
	sameBits(t, "EMA", before.EMA, after.EMA)
	sameBits(t, "Adam m", before.M, after.M)
	sameBits(t, "Adam v", before.V, after.V)
	if before.AdamStep != after.AdamStep || before.EMAUpdates != after.EMAUpdates {
		t.Errorf("counters went from Adam %d, EMA %d to %d, %d", before.AdamStep, before.EMAUpdates, after.AdamStep, after.EMAUpdates)
	}
}

func TestPoisonedBatchChangesNothing(t *testing.T) {
	runPoisonedBatch(t, newTrainer(t, smallConfig(t, t.TempDir()), false))
}
