package score

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/model"
	"github.com/scoregen/scoregen/sde"
	"github.com/scoregen/scoregen/unet"
)

// ScoreModel is a network compiled for inference (no dropout) on batches of
// a fixed size, on the CPU or the GPU, used as the score function of a
// sampler. It is the family's model.Sampler.
type ScoreModel struct {
	net   *unet.Net
	plan  *engine.Plan
	sde   sde.SDE
	fused fusedSampler // cuda: the SDE samplers' updates on the device; nil on the CPU
	close func()
	batch int
	flow  bool // the network is flow matching's velocity (sampled by sde.FlowSample)
	// ct is a consistency model's setting (sampled by sde.Consistency's
	// Sample), nil for the others; ctIn and ctT are its buffers.
	ct   *sde.Consistency
	ctIn sde.ConsistencyInputs
	ctT  []float64
	nfe  int // network evaluations so far
	// keep, null and uncond are a class-conditional network's buffers.
	keep, null, uncond []float32
	// Unconditional makes a class-conditional network score with "no
	// label" and no guidance (the ODE's encoding of any image).
	Unconditional bool
	Dim           int // C*H*W of one image
	// Sample is the sampler SampleAt runs (sampler, steps, snr, eps, seed).
	Sample configs.Sample
}

// NewSampler compiles the network for batches of batch images with the
// weights of w (their EMA when o.EMA and the checkpoint keeps one) and
// o's sampler settings.
func (f *Family) NewSampler(w model.Weights, batch int, o model.SampleOptions) (model.Sampler, error) {
	m, err := NewScoreModel(f.Net, f.SDE, batch, o.Device, o.GPU)
	if err != nil {
		return nil, err
	}
	m.Sample, m.flow, m.ct = o.Sample, f.Flow(), f.CT
	weights := make([][]float32, len(m.net.Params))
	for i, p := range m.net.Params {
		v, name, ok := w.Param(p.Name(), o.EMA)
		if !ok {
			m.Close()
			return nil, fmt.Errorf("no tensor %q for the network's parameter", name)
		}
		weights[i] = v
	}
	if err := m.SetWeights(weights); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// Batch is the number of images of one call.
func (m *ScoreModel) Batch() int { return m.batch }

// fusedSampler runs a whole sampler on the device, with the update fused
// into the network's graph.
type fusedSampler interface {
	// sample runs the schedule of sde.PredictorCorrector from the prior,
	// for images first, first+1, ... of the run, into x.
	sample(sched []sde.SamplerStep, priorStd float64, seed uint64, first int, x []float32, progress func(step int)) error
	// sampleLevels runs a level sampler's schedule (sde.Ancestral's,
	// sde.DDIM's, sde.AnnealedLangevin's) as sample does.
	sampleLevels(sched []sde.LevelStep, priorStd float64, seed uint64, first int, x []float32, progress func(step int)) error
	// sampleODE runs a fixed-step ODE sampler's schedule (sde.ODEEuler's,
	// sde.FlowSample's ode-euler and heun) as sample does.
	sampleODE(sched sde.ODESchedule, priorStd float64, seed uint64, first int, x []float32, progress func(step int)) error
	// sampleConsistency runs multistep consistency sampling's steps with
	// c as sample does.
	sampleConsistency(c *sde.Consistency, steps []sde.ConsistencyStep, seed uint64, first int, x []float32, progress func(step int)) error
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
	m := &ScoreModel{net: net, sde: s, batch: batch, Dim: cfg.Channels * cfg.Height * cfg.Width, close: func() {},
		keep: make([]float32, batch), null: make([]float32, batch)}
	switch device {
	case "cpu":
		// A sample must not depend on the other images of its batch.
		m.plan, err = engine.Compile(gorgonia.Nodes{net.Out}, &engine.CPU{BatchInvariant: true})
	default:
		err = compileGPUScore(m, device, g)
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
	if err := m.forward(x, t, score); err != nil {
		return err
	}
	for b := range m.batch {
		inv := float32(-1 / m.sde.Std(float64(t[b])))
		row := score[b*m.Dim : (b+1)*m.Dim]
		for i := range row {
			row[i] *= inv
		}
	}
	return nil
}

// forward writes the network's output for a batch: the predicted noise,
// or flow matching's velocity. A class-conditional network sees the labels
// setLabels wrote; with sample.guidance w > 0 the output is classifier-
// free guidance's (1 + w) out(x, t, label) - w out(x, t, no label), two
// network evaluations.
func (m *ScoreModel) forward(x, t, out []float32) error {
	if m.fused != nil {
		m.fused.scoreOnly()
	}
	if err := m.plan.Write(m.net.X, x); err != nil {
		return err
	}
	if err := m.plan.Write(m.net.T, t); err != nil {
		return err
	}
	if m.net.Labels == nil {
		return m.run(out)
	}
	if err := m.condition(!m.Unconditional); err != nil {
		return err
	}
	if err := m.run(out); err != nil {
		return err
	}
	w := m.Sample.Guidance
	if w == 0 || m.Unconditional {
		return nil
	}
	if m.uncond == nil {
		m.uncond = make([]float32, len(out))
	}
	if err := m.condition(false); err != nil {
		return err
	}
	if err := m.run(m.uncond); err != nil {
		return err
	}
	for i, u := range m.uncond {
		out[i] = float32((1+w)*float64(out[i]) - w*float64(u))
	}
	return nil
}

// run runs the network on the inputs written and reads its output.
func (m *ScoreModel) run(out []float32) error {
	m.nfe++
	if err := m.plan.Run(); err != nil {
		return err
	}
	return m.plan.Read(m.net.Out, out)
}

// condition sets a class-conditional network's Keep and Null to use the
// labels (on) or "no label".
func (m *ScoreModel) condition(on bool) error {
	keep, null := float32(0), float32(1)
	if on {
		keep, null = 1, 0
	}
	for i := range m.batch {
		m.keep[i], m.null[i] = keep, null
	}
	if err := m.plan.Write(m.net.Keep, m.keep); err != nil {
		return err
	}
	return m.plan.Write(m.net.Null, m.null)
}

// setLabels writes the one-hot labels of images first to first+batch-1 of
// a run of sample.n: sample.class, or with -1 image i's class i K / n.
func (m *ScoreModel) setLabels(first int) error {
	if m.net.Labels == nil {
		return nil
	}
	k, n := m.net.Labels.Shape()[1], max(m.Sample.N, 1)
	if c := m.Sample.Class; c < -1 || c >= k {
		return fmt.Errorf("class %d: want -1 (by index) or 0 to %d", c, k-1)
	}
	labels := make([]float32, m.batch*k)
	for b := range m.batch {
		c := m.Sample.Class
		if c < 0 {
			c = min(k-1, (first+b)*k/n)
		}
		labels[b*k+c] = 1
	}
	return m.plan.Write(m.net.Labels, labels)
}

// SampleAt overwrites x (Batch() images, NCHW, clipped to the data's
// range [-1, 1] as score_sde clips before it saves or scores samples: the
// last step can overshoot it) with images first to first+Batch()-1 of a
// run with the sampler m.Sample (configs.Samplers), calling progress after
// each step (annealed-langevin: each noise level; ode's steps are its own,
// and it reports none). An image's noise
// depends on c.Seed and its index in the run only (sde.PredictorCorrector,
// sde.ODESample), so a run cut into batches gives the images of one batch;
// with the pc sampler the corrector's step size also depends on the
// batch's other images.
func (m *ScoreModel) SampleAt(first int, x []float32, progress func(step int)) error {
	c := m.Sample
	if len(x) != m.batch*m.Dim {
		return fmt.Errorf("sample into %d values, want %d images of %d", len(x), m.batch, m.Dim)
	}
	if err := m.setLabels(first); err != nil {
		return err
	}
	if m.net.Labels != nil && m.fusable() { // the fused steps keep the condition written here
		if err := m.condition(!m.Unconditional); err != nil {
			return err
		}
	}
	var err error
	switch {
	case m.ct != nil:
		err = m.sampleConsistency(first, x, progress)
	case m.flow && m.fusable() && (c.Sampler == "ode-euler" || c.Sampler == "heun"):
		var sched sde.ODESchedule
		if sched, err = sde.FlowEulerSchedule(c.Steps, c.Sampler == "heun"); err == nil {
			err = m.fused.sampleODE(sched, 1, c.Seed, first, x, progress)
		}
		m.nfe += len(sched.Evals)
	case m.flow:
		_, err = sde.FlowSample(m.forward, x, m.batch, c.Sampler, c.Steps, sde.Tolerances{RTol: c.RTol, ATol: c.ATol}, c.Seed, first, progress)
	default:
		err = m.sampleSDE(first, x, progress)
	}
	if err != nil {
		return err
	}
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("sampling produced %v: the network or the SDE settings diverge", v)
		}
		x[i] = min(max(v, -1), 1)
	}
	return nil
}

// sampleSDE runs the SDE's sampler m.Sample.Sampler for SampleAt.
func (m *ScoreModel) sampleSDE(first int, x []float32, progress func(step int)) (err error) {
	c := m.Sample
	score := m.Score
	switch c.Sampler {
	case "em", "pc":
		correctors := map[string]int{"em": 0, "pc": 1}[c.Sampler] // EM is PC without a corrector
		if m.fusable() {
			var sched []sde.SamplerStep
			if sched, err = sde.PCSchedule(m.sde, c.Steps, correctors, c.SNR, c.Eps); err == nil {
				err = m.fused.sample(sched, m.sde.PriorStd(), c.Seed, first, x, progress)
			}
			m.nfe += len(sched)
			break
		}
		err = sde.PredictorCorrector(m.sde, score, x, m.batch, c.Steps, correctors, c.SNR, c.Eps, c.Seed, first, progress)
	case "ode":
		_, err = sde.ODESample(m.sde, score, x, m.batch, c.Eps, sde.Tolerances{RTol: c.RTol, ATol: c.ATol}, c.Seed, first)
	case "ode-euler", "heun":
		if m.fusable() {
			var sched sde.ODESchedule
			if sched, err = sde.ODEEulerSchedule(m.sde, c.Steps, c.Eps, c.Sampler == "heun"); err == nil {
				err = m.fused.sampleODE(sched, m.sde.PriorStd(), c.Seed, first, x, progress)
			}
			m.nfe += len(sched.Evals)
			break
		}
		err = sde.ODEEuler(m.sde, score, x, m.batch, c.Steps, c.Eps, c.Sampler == "heun", c.Seed, first, progress)
	case "ancestral", "ddim", "annealed-langevin":
		var sched []sde.LevelStep
		switch c.Sampler {
		case "ancestral":
			sched, err = sde.AncestralSchedule(m.sde, c.Steps, c.Eps)
		case "ddim":
			sched, err = sde.DDIMSchedule(m.sde, c.Steps, c.Eta, c.Eps)
		default:
			sched, err = sde.AnnealedLangevinSchedule(m.sde, c.Steps, c.LangevinSteps, c.StepLR, c.Eps)
		}
		switch {
		case err != nil:
		case m.fusable():
			err = m.fused.sampleLevels(sched, m.sde.PriorStd(), c.Seed, first, x, progress)
			m.nfe += len(sched)
		default:
			err = sde.SampleLevels(m.sde, score, x, m.batch, sched, c.Seed, first, progress)
		}
	default:
		return fmt.Errorf("unknown sampler %q (want one of %s)", c.Sampler, strings.Join(slices.Sorted(maps.Keys(configs.Samplers)), ", "))
	}
	return err
}

// fusable reports whether the device's fused samplers can run: they run
// the network once per step on inputs that, but for x and t, stay as
// written, so a class-conditional network fuses with its labels (or
// none) but not with classifier-free guidance, whose two evaluations per
// step set the condition around each.
func (m *ScoreModel) fusable() bool {
	return m.fused != nil && (m.net.Labels == nil || m.Unconditional || m.Sample.Guidance == 0)
}

// Evaluations is the number of network evaluations (each over a whole
// batch) so far: the ode sampler's vary with the images and its
// tolerances, and classifier-free guidance takes two per step.
func (m *ScoreModel) Evaluations() int { return m.nfe }
