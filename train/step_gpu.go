//go:build gpu

package train

import (
	"fmt"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/gpu"
)

// gpuStep runs the whole step on the GPU as one CUDA graph: the noising
// kernel, the plan, then the optimiser's three launches. Only the clean
// batch goes up and the loss and norm come back each step.
type gpuStep struct {
	*gpuPlan
	sg   *stepGraph
	opt  *gpu.Optimizer
	x0   gpu.Ptr     // the clean batch on the device
	host *gpu.Pinned // and its staging buffer
	n    int         // elements of a batch
}

// gpuSDE is cfg's SDE as the kernels name it.
func gpuSDE(c configs.SDE) (gpu.SDE, error) {
	switch c.Type {
	case "ve":
		return gpu.SDE{Kind: gpu.VE, A: c.SigmaMin, B: c.SigmaMax}, nil
	case "vp":
		return gpu.SDE{Kind: gpu.VP, A: c.BetaMin, B: c.BetaMax}, nil
	case "subvp":
		return gpu.SDE{Kind: gpu.SubVP, A: c.BetaMin, B: c.BetaMax}, nil
	}
	return gpu.SDE{}, fmt.Errorf("sde.type %q: want ve, vp or subvp", c.Type)
}

func newGPUStep(sg *stepGraph, cfg *configs.Config) (st stepper, err error) {
	s, err := gpuSDE(cfg.SDE)
	if err != nil {
		return nil, err
	}
	p, err := compileOnGPU(sg.outputs(), cfg.GPU)
	if err != nil {
		return nil, err
	}
	g := &gpuStep{gpuPlan: p, sg: sg, n: sg.net.X.Shape().TotalSize()}
	defer func() {
		if err != nil {
			g.close()
		}
	}()
	params, grads := make([]engine.Slot, len(sg.net.Params)), make([]engine.Slot, len(sg.grads))
	for i, w := range sg.net.Params {
		params[i], grads[i] = g.slot(w), g.slot(sg.grads[i])
	}
	c := cfg.Train
	if g.opt, err = gpu.NewOptimizer(g.b, params, grads, g.slot(sg.loss), adamBeta1, adamBeta2, adamEps, c.GradClip, c.EMA); err != nil {
		return nil, err
	}
	err = g.dev.Do(func() (err error) {
		if g.x0, err = g.dev.Pool.Alloc(4 * int64(g.n)); err != nil {
			return err
		}
		g.host, err = gpu.AllocPinned(g.n)
		return err
	})
	if err != nil {
		return nil, err
	}
	// The noise is keyed by the same step as the dropout masks, which the
	// backend copies to the device before each replay.
	x0 := gpu.Buf{Ptr: g.x0, Shape: sg.net.X.Shape()}
	perturb, err := g.b.Perturb(s, x0, g.buf(sg.net.X), g.buf(sg.z), g.buf(sg.net.T), cfg.SDE.Eps, c.Seed, &sg.net.RNG.Step)
	if err != nil {
		return nil, err
	}
	g.plan.Pre = []func() error{perturb}
	g.plan.Post = g.opt.Post()
	return g, nil
}

func (g *gpuStep) run(x0 []float32, step uint64, lr float64) (float64, float64, error) {
	if len(x0) != g.n {
		return 0, 0, fmt.Errorf("batch of %d values, the step takes %d", len(x0), g.n)
	}
	err := g.dev.Do(func() error {
		copy(g.host.Floats(), x0)
		return g.dev.Upload(g.x0, g.host, g.n)
	})
	if err != nil {
		return 0, 0, err
	}
	g.sg.net.RNG.Step = step
	g.opt.Next(lr)
	if err := g.plan.Run(); err != nil {
		return 0, 0, err
	}
	var loss [1]float32
	if err := g.plan.Read(g.sg.loss, loss[:]); err != nil {
		return 0, 0, err
	}
	norm, err := g.opt.Settle(float64(loss[0]))
	return float64(loss[0]), norm, err
}

func (g *gpuStep) state() (*optState, error) {
	st, err := g.opt.Read()
	if err != nil {
		return nil, err
	}
	s := &optState{EMA: st.EMA, M: st.M, V: st.V, AdamStep: g.opt.Step, EMAUpdates: g.opt.EMAUpdates}
	for _, p := range g.sg.net.Params {
		w := make([]float32, p.Shape().TotalSize())
		if err := g.plan.Read(p, w); err != nil {
			return nil, err
		}
		s.Params = append(s.Params, w)
	}
	return s, nil
}

func (g *gpuStep) setState(s *optState) error {
	for i, p := range g.sg.net.Params {
		if err := g.plan.Write(p, s.Params[i]); err != nil {
			return err
		}
	}
	g.opt.Step, g.opt.EMAUpdates = s.AdamStep, s.EMAUpdates
	return g.opt.Write(gpu.State{M: s.M, V: s.V, EMA: s.EMA})
}

func (g *gpuStep) memory() (int64, int64) {
	var peak int64
	g.dev.Do(func() error { peak = g.dev.Pool.Peak; return nil }) // the pool belongs to the device's thread
	return g.plan.Bytes(), peak
}

func (g *gpuStep) close() {
	if g.host != nil {
		g.dev.Do(func() error { g.dev.FreePinned(g.host); return nil })
	}
	g.gpuPlan.close()
}
