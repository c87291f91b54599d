package score

import (
	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/model"
	"github.com/scoregen/scoregen/nn"
	"github.com/scoregen/scoregen/optim"
	"github.com/scoregen/scoregen/sde"
	"github.com/scoregen/scoregen/unet"
)

// TargetPrefix starts the names of the target network's weights (and
// inputs) in a consistency model's training graph and checkpoints.
const TargetPrefix = "target."

// NewConsistency is the consistency setting of an experiment
// (model.objective consistency), its K being consistency.total_steps.
func NewConsistency(c configs.Consistency) (*sde.Consistency, error) {
	return sde.NewConsistency(sde.Consistency{
		Eps: c.SigmaMin, T: c.SigmaMax, SigmaData: c.SigmaData, Rho: c.Rho,
		S0: c.S0, S1: c.S1, Mu0: c.Mu0, K: c.TotalSteps,
		Improved: c.Improved, PMean: c.PMean, PStd: c.PStd,
	})
}

// ctNodes are one network's consistency inputs in a graph: its input X and
// time T, and Skip and Out, with which its output F gives f = Skip + Out F
// (sde.ConsistencyInputs).
type ctNodes struct{ X, T, Skip, Out *gorgonia.Node }

// inputs are the nodes' memory in a plan.
func (n ctNodes) inputs(input func(*gorgonia.Node) []float32) sde.ConsistencyInputs {
	return sde.ConsistencyInputs{X: input(n.X), T: input(n.T), Skip: input(n.Skip), Out: input(n.Out)}
}

// consistencyOutput adds to net's graph f = Skip + Out F, the
// parametrised consistency function of net's output F, with the inputs
// Skip ([B, C, H, W]) and Out ([B, 1, 1, 1], broadcast) named with prefix.
func consistencyOutput(net *unet.Net, prefix string) (ctNodes, *gorgonia.Node, error) {
	g, s := net.X.Graph(), net.X.Shape()
	skip := gorgonia.NewTensor(g, net.X.Dtype(), 4, gorgonia.WithShape(s...), gorgonia.WithName(prefix+"c_skip_x"))
	out := gorgonia.NewTensor(g, net.X.Dtype(), 4, gorgonia.WithShape(s[0], 1, 1, 1), gorgonia.WithName(prefix+"c_out"))
	scaled, err := nn.Binary(nn.Mul, out, net.Out)
	if err != nil {
		return ctNodes{}, nil, err
	}
	f, err := nn.Binary(nn.Add, skip, scaled)
	return ctNodes{X: net.X, T: net.T, Skip: skip, Out: out}, f, err
}

// consistencyGraph is consistency training's step (Algorithm 3): the
// online network f_theta at the later time of each pair, its twin, the
// target network f_theta- (unet.Net.Twin: weights that are graph inputs,
// not trained, so no gradient reaches them), at the earlier one, and the
// loss d(f_theta, f_theta-) with d the squared L2 distance, lambda = 1:
// Loss, the batch mean of the sum over pixels. Improved consistency
// training's loss is instead the batch mean of lambda_i (sqrt(||f_theta -
// f_theta-||^2 + c^2) - c) (nn.PseudoHuber, c = sde.PseudoHuberC of the
// image's size), the weights lambda_i = 1/(t_{n+1} - t_n) an input,
// Weight. The paper allows l2, l1 or
// LPIPS and reports LPIPS, whose ImageNet features cannot be had here; the
// official code's "l2" averages over pixels instead, a constant factor
// that Adam's step ignores (mnist_consistency.yaml turns gradient
// clipping off, as the official config does, for it would not).
type consistencyGraph struct {
	online, target     *unet.Net
	onlineIn, targetIn ctNodes
	fOnline, fTarget   *gorgonia.Node
	weight             *gorgonia.Node // improved training's lambda_i ([batch]); nil otherwise
	loss               *gorgonia.Node
}

func newConsistencyGraph(netCfg unet.Config, batch int, seed uint64, improved bool) (*consistencyGraph, error) {
	online, err := unet.Build(gorgonia.NewGraph(), netCfg, batch, true, seed)
	if err != nil {
		return nil, err
	}
	target, err := online.Twin(netCfg, TargetPrefix)
	if err != nil {
		return nil, err
	}
	cg := &consistencyGraph{online: online, target: target}
	if cg.onlineIn, cg.fOnline, err = consistencyOutput(online, ""); err != nil {
		return nil, err
	}
	if cg.targetIn, cg.fTarget, err = consistencyOutput(target, TargetPrefix); err != nil {
		return nil, err
	}
	if !improved {
		cg.loss, err = Loss(cg.fOnline, cg.fTarget)
		return cg, err
	}
	cg.weight = gorgonia.NewTensor(online.X.Graph(), online.X.Dtype(), 1, gorgonia.WithShape(batch), gorgonia.WithName("ct_weight"))
	s := online.X.Shape()
	cg.loss, err = nn.PseudoHuber(cg.fOnline, cg.fTarget, cg.weight, sde.PseudoHuberC(s.TotalSize()/s[0]))
	return cg, err
}

// consistencyTrainGraph is TrainGraph for model.objective consistency:
// one group, the online network, with train's optimiser and EMA (the
// weights that sampling uses, as the official code keeps both), and the
// target network's weights as State following the online ones after each
// optimiser step, theta- = mu(k) theta- + (1 - mu(k)) theta, from theta-
// = theta (the twin starts equal), saved in checkpoints under
// TargetPrefix.
func (f *Family) consistencyTrainGraph(batch int, seed uint64) (*model.TrainGraph, error) {
	cg, err := newConsistencyGraph(f.Net, batch, seed, f.CT.Improved)
	if err != nil {
		return nil, err
	}
	tg := &model.TrainGraph{
		G:       cg.online.X.Graph(),
		RNG:     cg.online.RNG,
		Groups:  []model.Group{{Name: "net", Params: cg.online.Params, Optim: optim.FromTrain(f.cfg.Train)}},
		Updates: []model.Update{{Group: 0, Loss: cg.loss, Data: true}},
		Prepare: &ConsistencyPerturb{CT: f.CT, Seed: seed, Online: cg.onlineIn, Target: cg.targetIn, Weight: cg.weight},
	}
	follow := func(k int) float64 { return 1 - f.CT.Mu(k) }
	for i, p := range cg.online.Params {
		tg.State = append(tg.State, model.State{Value: cg.target.Params[i], Batch: p, Schedule: follow})
	}
	return tg, nil
}

// ConsistencyPerturb is consistency training's model.Preparer: from the
// clean batch it draws the step's pair on N(k) points (sde.Consistency's
// Pair), k being the update's key, which for this family of one update
// per step is the step, and writes each network's inputs and coefficients
// (sde.Consistency's Inputs) into the plan: the online network's at the
// later times, the target's at the earlier; and the pairs' loss weights
// (sde.Consistency's PairWeight) into Weight, if not nil.
type ConsistencyPerturb struct {
	CT             *sde.Consistency
	Seed           uint64
	Online, Target ctNodes
	Weight         *gorgonia.Node
	tHi, tLo       []float64 // the pair's times, per sample
}

// PrepareHost draws the pair into the plan's inputs.
func (p *ConsistencyPerturb) PrepareHost(x0 []float32, key uint64, input func(*gorgonia.Node) []float32) {
	on, tg := p.Online.inputs(input), p.Target.inputs(input)
	if len(p.tHi) != len(on.T) {
		p.tHi, p.tLo = make([]float64, len(on.T)), make([]float64, len(on.T))
	}
	p.CT.Pair(x0, on.X, tg.X, p.tHi, p.tLo, p.CT.Steps(int(key)), p.Seed, key)
	p.CT.Inputs(on, on.X, p.tHi)
	p.CT.Inputs(tg, tg.X, p.tLo)
	if p.Weight != nil {
		w := input(p.Weight)
		for i := range w {
			w[i] = float32(p.CT.PairWeight(p.tHi[i], p.tLo[i]))
		}
	}
}

// sampleConsistency is SampleAt's multistep consistency sampling
// (sde.Consistency's Sample) in m.Sample.Steps steps at the default times
// (SampleTimes).
func (m *ScoreModel) sampleConsistency(first int, x []float32, progress func(step int)) error {
	ts, err := m.ct.SampleTimes(m.Sample.Steps)
	if err != nil {
		return err
	}
	if !m.fusable() {
		return m.ct.Sample(m.consistency, x, m.batch, ts, m.Sample.Seed, first, progress)
	}
	steps, err := m.ct.SampleSteps(ts)
	if err != nil {
		return err
	}
	m.nfe += len(steps)
	return m.fused.sampleConsistency(m.ct, steps, m.Sample.Seed, first, x, progress)
}

// consistency writes the model's consistency function f(x, t) = cSkip(t) x
// + cOut(t) F(cIn(t) x, cNoise(t)) for a batch, clipped to the data's
// [-1, 1] as the official samplers clip each step's image
// (openai/consistency_models' karras_sample, clip_denoised; the CIFAR-10
// code's multistep sampler).
func (m *ScoreModel) consistency(x, t, out []float32) error {
	in := &m.ctIn
	if in.X == nil {
		*in = sde.ConsistencyInputs{X: make([]float32, len(x)), Skip: make([]float32, len(x)), T: make([]float32, m.batch), Out: make([]float32, m.batch)}
		m.ctT = make([]float64, m.batch)
	}
	for i, v := range t {
		m.ctT[i] = float64(v)
	}
	m.ct.Inputs(*in, x, m.ctT)
	if err := m.forward(in.X, in.T, out); err != nil {
		return err
	}
	for i, c := range in.Out {
		for j := i * m.Dim; j < (i+1)*m.Dim; j++ {
			out[j] = min(max(in.Skip[j]+c*out[j], -1), 1)
		}
	}
	return nil
}
