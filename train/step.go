package train

import (
	"math"

	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/optim"
	"github.com/scoregen/scoregen/sde"
	"github.com/scoregen/scoregen/unet"
)

// stepper is the training step compiled for one device: noising, forward,
// backward, gradient clipping, Adam and the EMA.
type stepper interface {
	// run does one step on the clean batch x0, its noise and dropout masks
	// keyed by (seed, step), with Adam's learning rate lr, and returns the
	// loss and the gradient's global norm. When either is not finite, the
	// weights, moments, EMA and counters stay as they were.
	run(x0 []float32, step uint64, lr float64) (loss, norm float64, err error)
	// state is the weights, EMA, Adam's moments and counters; setState
	// restores them.
	state() (*optState, error)
	setState(*optState) error
	// memory is the bytes of the step's plan, and the device's peak use
	// (0 on the CPU, where the process's RSS tells).
	memory() (plan, devicePeak int64)
	close()
}

// optState is what a checkpoint holds of a run besides its step: one slice
// per parameter, in unet.Net.Params order.
type optState struct {
	Params, EMA, M, V    [][]float32
	AdamStep, EMAUpdates int
}

// stepGraph is the training step's graph: the network on the noised batch
// X at times T, the loss against the noise Z, and the gradients.
type stepGraph struct {
	net   *unet.Net
	z     *gorgonia.Node
	loss  *gorgonia.Node
	grads gorgonia.Nodes
}

func newStepGraph(netCfg unet.Config, batch int, seed uint64) (*stepGraph, error) {
	g := gorgonia.NewGraph()
	net, err := unet.Build(g, netCfg, batch, true, seed)
	if err != nil {
		return nil, err
	}
	z := gorgonia.NewTensor(g, net.X.Dtype(), 4, gorgonia.WithShape(net.X.Shape()...), gorgonia.WithName("z"))
	loss, err := Loss(net.Out, z)
	if err != nil {
		return nil, err
	}
	grads, err := gorgonia.Grad(loss, net.Params...)
	if err != nil {
		return nil, err
	}
	return &stepGraph{net: net, z: z, loss: loss, grads: grads}, nil
}

// outputs are the nodes a plan of the step computes.
func (sg *stepGraph) outputs() gorgonia.Nodes { return append(gorgonia.Nodes{sg.loss}, sg.grads...) }

// cpuStep runs the step on the host: sde.Perturb, the plan, then nn's
// optimiser over views of the plan's memory.
type cpuStep struct {
	sg            *stepGraph
	plan          *engine.Plan
	sde           sde.SDE
	seed          uint64
	eps, clip     float64
	xt, z, t      []float32 // views of the plan's inputs
	params, grads [][]float32
	adam          *optim.Adam
	ema           *optim.EMA
}

func newCPUStep(sg *stepGraph, s sde.SDE, c *configs.Config) (*cpuStep, error) {
	cpu := engine.NewCPU()
	plan, err := engine.Compile(sg.outputs(), cpu)
	if err != nil {
		return nil, err
	}
	view := func(n *gorgonia.Node) []float32 {
		slot, _ := plan.Slot(n)
		return cpu.View(slot)
	}
	st := &cpuStep{sg: sg, plan: plan, sde: s, seed: c.Train.Seed, eps: c.SDE.Eps, clip: c.Train.GradClip,
		xt: view(sg.net.X), z: view(sg.z), t: view(sg.net.T)}
	for i, p := range sg.net.Params {
		st.params = append(st.params, view(p))
		st.grads = append(st.grads, view(sg.grads[i]))
	}
	st.adam = optim.NewAdam(st.params, st.grads, adamBeta1, adamBeta2, adamEps)
	st.ema = optim.NewEMA(st.params, c.Train.EMA)
	return st, nil
}

// Adam's constants, as score_sde's (and torch's defaults).
const adamBeta1, adamBeta2, adamEps = 0.9, 0.999, 1e-8

func (st *cpuStep) run(x0 []float32, step uint64, lr float64) (float64, float64, error) {
	batch := len(st.t)
	sde.Perturb(st.sde, x0, st.xt, st.z, st.t, batch, st.seed, step, st.eps)
	st.sg.net.RNG.Step = step
	if err := st.plan.Run(); err != nil {
		return 0, 0, err
	}
	var loss [1]float32
	if err := st.plan.Read(st.sg.loss, loss[:]); err != nil {
		return 0, 0, err
	}
	l, norm := float64(loss[0]), optim.GlobalNorm(st.grads)
	if finite(l) && finite(norm) {
		st.adam.Update(lr, optim.ClipScale(norm, st.clip))
		st.ema.Update(st.params)
	}
	return l, norm, nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// state returns views of the step's memory, not copies.
func (st *cpuStep) state() (*optState, error) {
	return &optState{Params: st.params, EMA: st.ema.Shadow, M: st.adam.M, V: st.adam.V,
		AdamStep: st.adam.Step, EMAUpdates: st.ema.Updates}, nil
}

func (st *cpuStep) setState(s *optState) error {
	for _, part := range []struct{ dst, src [][]float32 }{{st.params, s.Params}, {st.ema.Shadow, s.EMA}, {st.adam.M, s.M}, {st.adam.V, s.V}} {
		for i := range part.dst {
			copy(part.dst[i], part.src[i])
		}
	}
	st.adam.Step, st.ema.Updates = s.AdamStep, s.EMAUpdates
	return nil
}

func (st *cpuStep) memory() (int64, int64) { return st.plan.Bytes(), 0 }

func (st *cpuStep) close() {}
