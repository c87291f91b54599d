package train

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/sde"
	"github.com/scoregen/scoregen/unet"
)

// ScoreModel is a network compiled for inference (no dropout) on batches of
// a fixed size, on the CPU or the GPU, used as the score function of a
// sampler.
type ScoreModel struct {
	net   *unet.Net
	plan  *engine.Plan
	sde   sde.SDE
	fused fusedSampler // cuda: Euler-Maruyama on the device; nil on the CPU
	close func()
	Batch int
	Dim   int // C*H*W of one image
}

// fusedSampler runs a whole sampler on the device, with the update fused
// into the network's graph.
type fusedSampler interface {
	// sample runs the schedule of sde.PredictorCorrector from the prior,
	// for images first, first+1, ... of the run, into x.
	sample(sched []sde.SamplerStep, priorStd float64, seed uint64, first int, x []float32, progress func(step int)) error
	// scoreOnly makes the next runs evaluate only the network.
	scoreOnly()
}

// NewScoreModel compiles cfg's network for batches of `batch` images on
// device ("cpu" or "cuda", with the settings g).
func NewScoreModel(cfg unet.Config, s sde.SDE, batch int, device string, g configs.GPU) (*ScoreModel, error) {
	if err := CheckSampling(cfg, batch, device, "the batch size"); err != nil {
		return nil, err
	}
	net, err := unet.Build(gorgonia.NewGraph(), cfg, batch, false, 0)
	if err != nil {
		return nil, err
	}
	m := &ScoreModel{net: net, sde: s, Batch: batch, Dim: cfg.Channels * cfg.Height * cfg.Width, close: func() {}}
	switch device {
	case "cpu":
		// A sample must not depend on the other images of its batch.
		m.plan, err = engine.Compile(gorgonia.Nodes{net.Out}, &engine.CPU{BatchInvariant: true})
	case "cuda":
		err = compileGPUScore(m, g)
	default:
		err = fmt.Errorf("device %q: want cpu or cuda", device)
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Close releases the model's device.
func (m *ScoreModel) Close() { m.close() }

// Params are the network's parameters, in the order SetWeights takes them.
func (m *ScoreModel) Params() []*gorgonia.Node { return m.net.Params }

// SetWeights loads one slice per parameter, in Params order.
func (m *ScoreModel) SetWeights(w [][]float32) error {
	if len(w) != len(m.net.Params) {
		return fmt.Errorf("%d weight tensors for %d parameters", len(w), len(m.net.Params))
	}
	for i, p := range m.net.Params {
		if err := m.plan.Write(p, w[i]); err != nil {
			return err
		}
	}
	return nil
}

// Score writes s(x, t) = -eps_hat(x, t) / std(t) for a batch: the network
// predicts the noise, which is the score scaled by -std (REFERENCE_UNET.md).
func (m *ScoreModel) Score(x, t, score []float32) error {
	if m.fused != nil {
		m.fused.scoreOnly()
	}
	if err := m.plan.Write(m.net.X, x); err != nil {
		return err
	}
	if err := m.plan.Write(m.net.T, t); err != nil {
		return err
	}
	if err := m.plan.Run(); err != nil {
		return err
	}
	if err := m.plan.Read(m.net.Out, score); err != nil {
		return err
	}
	for b := range m.Batch {
		inv := float32(-1 / m.sde.Std(float64(t[b])))
		row := score[b*m.Dim : (b+1)*m.Dim]
		for i := range row {
			row[i] *= inv
		}
	}
	return nil
}

// Sample draws m.Batch images, images 0 to m.Batch-1 of a run, with the
// sampler of c (see SampleAt).
func (m *ScoreModel) Sample(c configs.Sample, progress func(step int)) ([]float32, error) {
	x := make([]float32, m.Batch*m.Dim)
	if err := m.SampleAt(c, 0, x, progress); err != nil {
		return nil, err
	}
	return x, nil
}

// SampleAt overwrites x (m.Batch images, NCHW, roughly in [-1, 1]
// afterwards) with images first to first+m.Batch-1 of a run with the
// sampler of c, calling progress after each step. An image's noise depends
// on c.Seed and its index in the run only (sde.PredictorCorrector), so a
// run cut into batches gives the images of one batch; with the pc sampler
// the corrector's step size also depends on the batch's other images.
func (m *ScoreModel) SampleAt(c configs.Sample, first int, x []float32, progress func(step int)) error {
	correctors, ok := map[string]int{"em": 0, "pc": 1}[c.Sampler] // EM is PC without a corrector
	if !ok {
		return fmt.Errorf("unknown sampler %q (want em or pc)", c.Sampler)
	}
	if len(x) != m.Batch*m.Dim {
		return fmt.Errorf("sample into %d values, want %d images of %d", len(x), m.Batch, m.Dim)
	}
	var err error
	if m.fused != nil {
		var sched []sde.SamplerStep
		if sched, err = sde.PCSchedule(m.sde, c.Steps, correctors, c.SNR, c.Eps); err == nil {
			err = m.fused.sample(sched, m.sde.PriorStd(), c.Seed, first, x, progress)
		}
	} else {
		err = sde.PredictorCorrector(m.sde, m.Score, x, m.Batch, c.Steps, correctors, c.SNR, c.Eps, c.Seed, first, progress)
	}
	if err != nil {
		return err
	}
	for _, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("sampling produced %v: the network or the SDE settings diverge", v)
		}
	}
	return nil
}
