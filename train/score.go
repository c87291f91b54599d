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
	// sampleEM runs sde.EulerMaruyama's schedule and returns x.
	sampleEM(sched []sde.EMStep, priorStd float64, seed uint64, progress func(step int)) ([]float32, error)
	// scoreOnly makes the next runs evaluate only the network.
	scoreOnly()
}

// NewScoreModel compiles cfg's network for batches of `batch` images on
// device ("cpu" or "cuda", with the settings g).
func NewScoreModel(cfg unet.Config, s sde.SDE, batch int, device string, g configs.GPU) (*ScoreModel, error) {
	net, err := unet.Build(gorgonia.NewGraph(), cfg, batch, false, 0)
	if err != nil {
		return nil, err
	}
	m := &ScoreModel{net: net, sde: s, Batch: batch, Dim: cfg.Channels * cfg.Height * cfg.Width, close: func() {}}
	switch device {
	case "cpu":
		m.plan, err = engine.Compile(gorgonia.Nodes{net.Out}, engine.NewCPU())
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

// Sample draws m.Batch images with the sampler of c, calling progress after
// each step. The result is NCHW, roughly in [-1, 1].
func (m *ScoreModel) Sample(c configs.Sample, progress func(step int)) ([]float32, error) {
	x := make([]float32, m.Batch*m.Dim)
	var err error
	switch {
	case c.Sampler == "em" && m.fused != nil:
		var sched []sde.EMStep
		if sched, err = sde.EMSchedule(m.sde, c.Steps, c.Eps); err == nil {
			x, err = m.fused.sampleEM(sched, m.sde.PriorStd(), c.Seed, progress)
		}
	case c.Sampler == "em":
		err = sde.EulerMaruyama(m.sde, m.Score, x, m.Batch, c.Steps, c.Eps, c.Seed, progress)
	case c.Sampler == "pc": // on the GPU too, with the network on the device and the update on the host
		err = sde.PredictorCorrector(m.sde, m.Score, x, m.Batch, c.Steps, 1, c.SNR, c.Eps, c.Seed, progress)
	default:
		err = fmt.Errorf("unknown sampler %q (want em or pc)", c.Sampler)
	}
	if err != nil {
		return nil, err
	}
	for _, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("sampling produced %v: the network or the SDE settings diverge", v)
		}
	}
	return x, nil
}
