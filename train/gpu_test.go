//go:build gpu

package train

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/scoregen/scoregen/internal/numdiff"
)

// compare logs how far each GPU tensor is from its CPU twin, pass or fail,
// and fails the test where one differs by more than tol relative to the
// CPU tensor's largest magnitude.
func compare(t *testing.T, what string, names []string, gpu, cpu [][]float32, tol float64) {
	t.Helper()
	for i := range cpu {
		d := numdiff.Of(gpu[i], cpu[i])
		t.Logf("%s %s: %v", what, names[i], d)
		if !d.Within(tol) {
			t.Errorf("%s %s: %v, tolerance %.2g", what, names[i], d, tol)
		}
	}
}

// paramNames are the names of tr's parameters, in state order.
func paramNames(tr *Trainer) []string {
	var names []string
	for _, p := range tr.net.Params {
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
// and Philox streams: the loss of each step within 1e-5 relative, and every
// parameter, EMA weight and Adam moment within 1e-4 at the end.
func TestGPUStepMatchesCPU(t *testing.T) {
	const steps = 10
	cpu := newTrainer(t, smallConfig(t, t.TempDir()), false)
	gpuCfg := smallConfig(t, t.TempDir(), "device=cuda")
	gpu := newTrainer(t, gpuCfg, false)
	for i := range steps {
		a, b := stepBoth(t, cpu, gpu)
		compareScalar(t, fmt.Sprintf("step %d: loss", i+1), b.Loss, a.Loss, 1e-5)
		compareScalar(t, fmt.Sprintf("step %d: gradient norm", i+1), b.GradNorm, a.GradNorm, 1e-5)
	}
	compareStates(t, fmt.Sprintf("after %d steps:", steps), gpu, cpu)
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
	sc, sg, names := state(t, cpu), state(t, gpu), paramNames(cpu)
	for _, part := range []struct {
		name string
		g, c [][]float32
	}{{"weights", sg.Params, sc.Params}, {"EMA", sg.EMA, sc.EMA}, {"Adam m", sg.M, sc.M}, {"Adam v", sg.V, sc.V}} {
		compare(t, when+" "+part.name, names, part.g, part.c, 1e-4)
	}
	if sc.AdamStep != sg.AdamStep || sc.EMAUpdates != sg.EMAUpdates {
		t.Errorf("%s counters: Adam %d on the GPU, %d on the CPU; EMA %d, %d", when, sg.AdamStep, sc.AdamStep, sg.EMAUpdates, sc.EMAUpdates)
	}
}

// A batch holding a NaN changes nothing on the GPU, as on the CPU
// (runPoisonedBatch), and the step after it matches the CPU's again.
func TestGPUSkipsNonFiniteStep(t *testing.T) {
	cpu := newTrainer(t, smallConfig(t, t.TempDir()), false)
	gpu := newTrainer(t, smallConfig(t, t.TempDir(), "device=cuda"), false)
	runPoisonedBatch(t, cpu)
	runPoisonedBatch(t, gpu)
	a, b := stepBoth(t, cpu, gpu)
	compareScalar(t, "loss after the poisoned batch", b.Loss, a.Loss, 1e-5)
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
	s1, s2 := state(t, straight), state(t, resumed)
	sameBits(t, "weights", s1.Params, s2.Params)
	sameBits(t, "ema", s1.EMA, s2.EMA)
	sameBits(t, "adam m", s1.M, s2.M)
}

// The score network and the fused samplers (Euler-Maruyama, and with the
// Langevin corrector) on the GPU match the CPU's: the score within 1e-5,
// the samples after a few steps (the same Philox noise) within 1e-4,
// relative to their largest magnitude.
func TestGPUSamplerMatchesCPU(t *testing.T) {
	cfg := smallConfig(t, t.TempDir())
	netCfg, err := NetConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSDE(cfg.SDE)
	if err != nil {
		t.Fatal(err)
	}
	const batch = 3
	models := map[string]*ScoreModel{}
	for _, dev := range []string{"cpu", "cuda"} {
		m, err := NewScoreModel(netCfg, s, batch, dev, cfg.GPU)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.Close)
		models[dev] = m
	}
	x := make([]float32, batch*models["cpu"].Dim)
	for i := range x {
		x[i] = float32(math.Sin(float64(i)))
	}
	tt := []float32{0.9, 0.5, 0.01}
	scores := map[string][]float32{}
	for dev, m := range models {
		scores[dev] = make([]float32, len(x))
		if err := m.Score(x, tt, scores[dev]); err != nil {
			t.Fatal(err)
		}
	}
	compare(t, "score", []string{"of x"}, [][]float32{scores["cuda"]}, [][]float32{scores["cpu"]}, 1e-5)
	// Images 0-2 of the run, and images 1000-1002, whose noise is drawn
	// further along the same Philox draws.
	for _, sampler := range []string{"em", "pc"} {
		for _, first := range []int{0, 1000} {
			sc := cfg.Sample
			sc.Sampler, sc.Steps = sampler, 5
			samples := map[string][]float32{}
			for dev, m := range models {
				samples[dev] = make([]float32, len(x))
				if err := m.SampleAt(sc, first, samples[dev], nil); err != nil {
					t.Fatal(err)
				}
			}
			compare(t, sampler, []string{fmt.Sprintf("samples %d-%d after %d steps", first, first+batch-1, sc.Steps)},
				[][]float32{samples["cuda"]}, [][]float32{samples["cpu"]}, 1e-4)
		}
	}
	// Score after sampling evaluates the network alone again.
	again := make([]float32, len(x))
	if err := models["cuda"].Score(x, tt, again); err != nil {
		t.Fatal(err)
	}
	compare(t, "score", []string{"after sampling, against before"}, [][]float32{again}, [][]float32{scores["cuda"]}, 0)
}
