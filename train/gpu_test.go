//go:build gpu

package train

import (
	"context"
	"math"
	"testing"
)

// maxRelDiff is the largest |a-b| over the tensors, relative to the largest
// |b| of the tensor it occurs in.
func maxRelDiff(a, b [][]float32) float64 {
	worst := 0.0
	for i := range b {
		scale, d := 0.0, 0.0
		for j := range b[i] {
			scale = max(scale, math.Abs(float64(b[i][j])))
			d = max(d, math.Abs(float64(a[i][j])-float64(b[i][j])))
		}
		if math.IsNaN(d) || scale == 0 && d > 0 {
			return math.Inf(1)
		}
		if scale > 0 {
			worst = max(worst, d/scale)
		}
	}
	return worst
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
		a, err := cpu.TrainStep()
		if err != nil {
			t.Fatal(err)
		}
		b, err := gpu.TrainStep()
		if err != nil {
			t.Fatal(err)
		}
		if d := math.Abs(a.Loss-b.Loss) / math.Abs(a.Loss); !(d <= 1e-5) {
			t.Errorf("step %d: loss %v on the GPU, %v on the CPU (relative difference %.2g)", i+1, b.Loss, a.Loss, d)
		}
		if d := math.Abs(a.GradNorm-b.GradNorm) / a.GradNorm; !(d <= 1e-5) {
			t.Errorf("step %d: gradient norm %v on the GPU, %v on the CPU", i+1, b.GradNorm, a.GradNorm)
		}
	}
	sc, sg := state(t, cpu), state(t, gpu)
	for _, part := range []struct {
		name string
		g, c [][]float32
	}{{"weights", sg.Params, sc.Params}, {"EMA", sg.EMA, sc.EMA}, {"Adam m", sg.M, sc.M}, {"Adam v", sg.V, sc.V}} {
		if d := maxRelDiff(part.g, part.c); !(d <= 1e-4) {
			t.Errorf("%s after %d steps: GPU and CPU differ by %.2g relative", part.name, steps, d)
		}
	}
	if sc.AdamStep != sg.AdamStep || sc.EMAUpdates != sg.EMAUpdates {
		t.Errorf("counters: Adam %d vs %d, EMA %d vs %d", sg.AdamStep, sc.AdamStep, sg.EMAUpdates, sc.EMAUpdates)
	}
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
	if d := maxRelDiff([][]float32{scores["cuda"]}, [][]float32{scores["cpu"]}); !(d <= 1e-5) {
		t.Errorf("score: GPU and CPU differ by %.2g relative", d)
	}
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
			if d := maxRelDiff([][]float32{samples["cuda"]}, [][]float32{samples["cpu"]}); !(d <= 1e-4) {
				t.Errorf("%s samples %d-%d after %d steps: GPU and CPU differ by %.2g relative", sampler, first, first+batch-1, sc.Steps, d)
			}
		}
	}
	// Score after sampling evaluates the network alone again.
	again := make([]float32, len(x))
	if err := models["cuda"].Score(x, tt, again); err != nil {
		t.Fatal(err)
	}
	if d := maxRelDiff([][]float32{again}, [][]float32{scores["cuda"]}); d != 0 {
		t.Errorf("score after sampling differs from before by %.2g", d)
	}
}
