//go:build gpu

package train

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/scoregen/scoregen/internal/numdiff"
)

// paramNames are the names of group g's parameters, in state order.
func paramNames(tr *Trainer, g int) []string {
	var names []string
	for _, p := range tr.c.tg.Groups[g].Params {
		names = append(names, p.Name())
	}
	return names
}

// compareScalar logs and checks one figure of a step, as compare does.
func compareScalar(t *testing.T, what string, gpu, cpu, tol float64) {
	t.Helper()
	d := math.Abs(gpu-cpu) / math.Abs(cpu)
	t.Logf("%s: %v on the GPU, %v on the CPU: abs diff %.3g, rel %.3g", what, gpu, cpu, math.Abs(gpu-cpu), d)
	if !(d <= tol) {
		t.Errorf("%s: %v on the GPU, %v on the CPU (relative difference %.2g, tolerance %.2g)", what, gpu, cpu, d, tol)
	}
}

// Ten training steps on the GPU match ten on the CPU from the same batches
// and Philox streams, for every family: each update's loss and gradient
// norm within 1e-5 relative at each step, and every parameter, EMA weight,
// Adam moment and state tensor within 1e-4 at the end.
func TestGPUStepMatchesCPU(t *testing.T) {
	const steps = 10
	for _, e := range experiments {
		t.Run(e.name, func(t *testing.T) {
			cpu := newTrainer(t, experimentConfig(t, e.file, t.TempDir(), e.sets...), false)
			gpu := newTrainer(t, experimentConfig(t, e.file, t.TempDir(), append(slices.Clone(e.sets), "device=cuda")...), false)
			for i := range steps {
				a, b := stepBoth(t, cpu, gpu)
				for _, k := range slices.Sorted(maps.Keys(a.Values)) {
					if strings.HasSuffix(k, "loss") || strings.HasSuffix(k, "grad_norm") {
						compareScalar(t, fmt.Sprintf("step %d: %s", i+1, k), b.Values[k], a.Values[k], 1e-5)
					}
				}
			}
			compareStates(t, fmt.Sprintf("after %d steps:", steps), gpu, cpu)
		})
	}
}

// stepBoth runs one training step on each trainer.
func stepBoth(t *testing.T, cpu, gpu *Trainer) (a, b Stats) {
	t.Helper()
	var err error
	if a, err = cpu.TrainStep(); err != nil {
		t.Fatal(err)
	}
	if b, err = gpu.TrainStep(); err != nil {
		t.Fatal(err)
	}
	return a, b
}

// compareStates compares the GPU trainer's weights, EMA, Adam moments and
// counters with the CPU's, to 1e-4 relative.
func compareStates(t *testing.T, when string, gpu, cpu *Trainer) {
	t.Helper()
	stc, stg := state(t, cpu), state(t, gpu)
	for g := range stc.Groups {
		sc, sg, names := stc.Groups[g], stg.Groups[g], paramNames(cpu, g)
		for _, part := range []struct {
			name string
			g, c [][]float32
		}{{"weights", sg.Params, sc.Params}, {"EMA", sg.EMA, sc.EMA}, {"Adam m", sg.M, sc.M}, {"Adam v", sg.V, sc.V}} {
			numdiff.Compare(t, when+" "+part.name, names, part.g, part.c, 1e-4)
		}
		if sc.AdamStep != sg.AdamStep || sc.EMAUpdates != sg.EMAUpdates {
			t.Errorf("%s counters: Adam %d on the GPU, %d on the CPU; EMA %d, %d", when, sg.AdamStep, sc.AdamStep, sg.EMAUpdates, sc.EMAUpdates)
		}
	}
	var names []string
	for _, st := range cpu.c.tg.State {
		names = append(names, st.Value.Name())
	}
	numdiff.Compare(t, when+" state", names, stg.State, stc.State, 1e-4)
}

// A batch holding a NaN changes nothing on the GPU, as on the CPU
// (runPoisonedBatch), and the step after it matches the CPU's again.
func TestGPUSkipsNonFiniteStep(t *testing.T) {
	cpu := newTrainer(t, smallConfig(t, t.TempDir()), false)
	gpu := newTrainer(t, smallConfig(t, t.TempDir(), "device=cuda"), false)
	runPoisonedBatch(t, cpu)
	runPoisonedBatch(t, gpu)
	a, b := stepBoth(t, cpu, gpu)
	compareScalar(t, "loss after the poisoned batch", b.Loss(), a.Loss(), 1e-5)
	compareStates(t, "after the poisoned batch and one more step:", gpu, cpu)
}

// A GPU run stopped at step 3 and resumed to 6 from its checkpoint ends
// where a straight GPU run does (the graph is deterministic).
func TestGPUResume(t *testing.T) {
	straight := newTrainer(t, smallConfig(t, t.TempDir(), "device=cuda", "train.steps=6", "train.ckpt_every=100"), false)
	if err := straight.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	first := newTrainer(t, smallConfig(t, dir, "device=cuda", "train.steps=3", "train.ckpt_every=3"), false)
	if err := first.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	resumed := newTrainer(t, smallConfig(t, dir, "device=cuda", "train.steps=6", "train.ckpt_every=3"), true)
	if err := resumed.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	sameState(t, state(t, straight), state(t, resumed))
}
