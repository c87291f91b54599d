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
// a fixed size, used as the score function of a sampler.
type ScoreModel struct {
	net   *unet.Net
	plan  *engine.Plan
	cpu   *engine.CPU
	sde   sde.SDE
	Batch int
	Dim   int // C*H*W of one image
}

// NewScoreModel compiles cfg's network for batches of `batch` images.
func NewScoreModel(cfg unet.Config, s sde.SDE, batch int) (*ScoreModel, error) {
	net, err := unet.Build(gorgonia.NewGraph(), cfg, batch, false, 0)
	if err != nil {
		return nil, err
	}
	cpu := engine.NewCPU()
	plan, err := engine.Compile(gorgonia.Nodes{net.Out}, cpu)
	if err != nil {
		return nil, err
	}
	return &ScoreModel{net: net, plan: plan, cpu: cpu, sde: s, Batch: batch, Dim: cfg.Channels * cfg.Height * cfg.Width}, nil
}

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
	switch c.Sampler {
	case "em":
		err = sde.EulerMaruyama(m.sde, m.Score, x, m.Batch, c.Steps, c.Eps, c.Seed, progress)
	case "pc":
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
