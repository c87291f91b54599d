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
