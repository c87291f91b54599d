package train

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/model"
	"github.com/scoregen/scoregen/optim"
)

// runner is a family's updates compiled for one device: one plan per
// update, sharing the parameters, and each update's optimiser.
type runner interface {
	// run does update u once: the clean batch x0 (nil for an update that
	// reads none) into its inputs and its one-hot labels into the graph's
	// Labels (nil when the graph has none or the update reads no data),
	// randomness keyed by key, the schedules at step, the plan, then the
	// group's clipping, Adam with learning rate lr, EMA and state
	// statistics. When the loss or the gradient norm is not finite,
	// nothing changes.
	run(u int, x0, labels []float32, key uint64, step int, lr float64) (result, error)
	// state is the weights, EMA, Adam's moments, counters and state
	// tensors; setState restores them.
	state() (*runState, error)
	setState(*runState) error
	// memory is the bytes of the plans, and the device's peak use (0 on
	// the CPU, where the process's RSS tells).
	memory() (plan, devicePeak int64)
	close()
}

// result is what one run of an update reports.
type result struct {
	loss, norm float64
	metrics    []float64 // the update's Metrics, in order
}

// runState is what a checkpoint holds of a run besides its step.
type runState struct {
	Groups []groupState // in TrainGraph.Groups order
	State  [][]float32  // in TrainGraph.State order
}

// groupState is one parameter group's weights and optimiser: one slice per
// parameter, in the group's order; EMA is nil when the group keeps none.
type groupState struct {
	Params, EMA, M, V    [][]float32
	AdamStep, EMAUpdates int
}

// compiled is a training graph with each update's gradients, ready for a
// backend.
type compiled struct {
	tg         *model.TrainGraph
	batchShape tensor.Shape     // of the clean batch: N, C, H, W
	grads      []gorgonia.Nodes // per update, with respect to its group's params
	updater    []int            // per group, the update that updates it
}

// compile differentiates each update's loss with respect to its group and
// checks that every group is updated by exactly one update, that X takes
// batches of batchShape, and that Labels, if any, has a row per image.
func compile(tg *model.TrainGraph, batchShape tensor.Shape) (*compiled, error) {
	c := &compiled{tg: tg, batchShape: batchShape, updater: make([]int, len(tg.Groups))}
	if tg.X != nil && !tg.X.Shape().Eq(batchShape) {
		return nil, fmt.Errorf("the graph's X has shape %v, the batches %v", tg.X.Shape(), batchShape)
	}
	if l := tg.Labels; l != nil && (l.Shape().Dims() != 2 || l.Shape()[0] != batchShape[0] || l.Shape()[1] < 1) {
		return nil, fmt.Errorf("the graph's Labels has shape %v, want [%d, classes]", l.Shape(), batchShape[0])
	}
	for i := range c.updater {
		c.updater[i] = -1
	}
	if len(tg.Updates) == 0 {
		return nil, fmt.Errorf("the training graph has no updates")
	}
	for u, up := range tg.Updates {
		if up.Group < 0 || up.Group >= len(tg.Groups) {
			return nil, fmt.Errorf("update %d names group %d of %d", u, up.Group, len(tg.Groups))
		}
		if c.updater[up.Group] >= 0 {
			return nil, fmt.Errorf("group %q is updated by two updates", tg.Groups[up.Group].Name)
		}
		c.updater[up.Group] = u
		if up.Data && tg.X == nil && tg.Prepare == nil {
			return nil, fmt.Errorf("update %d reads data, and the graph has neither X nor Prepare", u)
		}
		grads, err := gorgonia.Grad(up.Loss, tg.Groups[up.Group].Params...)
		if err != nil {
			return nil, fmt.Errorf("the gradient of update %d's loss: %w", u, err)
		}
		c.grads = append(c.grads, grads)
	}
	for g, u := range c.updater {
		if u < 0 {
			return nil, fmt.Errorf("group %q is updated by no update", tg.Groups[g].Name)
		}
	}
	return c, nil
}

// outputs are, per update, the nodes its plan computes: the loss, the
// metrics, the gradients and the batch statistics of its states, with the
// states themselves, which a training graph need not read (BatchNorm
// normalises by the batch's statistics while training), so that they have
// memory in the plan that follows them.
func (c *compiled) outputs() []gorgonia.Nodes {
	var out []gorgonia.Nodes
	for u, up := range c.tg.Updates {
		o := gorgonia.Nodes{up.Loss}
		for _, m := range up.Metrics {
			o = append(o, m.Node)
		}
		o = append(o, c.grads[u]...)
		for _, s := range c.tg.State {
			if s.Update == u {
				o = append(o, s.Batch, s.Value)
			}
		}
		out = append(out, o)
	}
	return out
}

// cpuRunner runs the updates on the host, the optimisers working on views
// of the plans' memory.
type cpuRunner struct {
	c       *compiled
	cpu     *engine.CPU
	plans   []*engine.Plan
	adam    []*optim.Adam // per group
	ema     []*optim.EMA  // per group; nil when the group keeps none
	params  [][][]float32 // per group
	grads   [][][]float32 // per update
	clip    []float64     // per update
	states  [][]float32   // views of the State values
	batches [][]float32   // and of their batch statistics
}

// newCPURunner compiles the updates on the host, with BF16 products if
// bf16 is set.
func newCPURunner(c *compiled, bf16 bool) (*cpuRunner, error) {
	r := &cpuRunner{c: c, cpu: engine.NewCPU()}
	r.cpu.BF16 = bf16
	var err error
	if r.plans, err = engine.CompileShared(r.cpu, c.outputs()...); err != nil {
		return nil, err
	}
	for g, group := range c.tg.Groups {
		params := make([][]float32, len(group.Params))
		for i, p := range group.Params {
			params[i] = r.view(c.updater[g], p)
		}
		r.params = append(r.params, params)
	}
	for u, up := range c.tg.Updates {
		grads := make([][]float32, len(c.grads[u]))
		for i, g := range c.grads[u] {
			grads[i] = r.view(u, g)
		}
		r.grads = append(r.grads, grads)
		r.clip = append(r.clip, c.tg.Groups[up.Group].Optim.Clip)
	}
	for g, group := range c.tg.Groups {
		o := group.Optim
		r.adam = append(r.adam, optim.NewAdam(r.params[g], r.grads[c.updater[g]], o.Beta1, o.Beta2, o.Eps))
		var ema *optim.EMA
		if o.EMA > 0 {
			ema = optim.NewEMA(r.params[g], o.EMA, o.EMARamp)
		}
		r.ema = append(r.ema, ema)
	}
	for _, s := range c.tg.State {
		r.states = append(r.states, r.view(s.Update, s.Value))
		r.batches = append(r.batches, r.view(s.Update, s.Batch))
	}
	return r, nil
}

// view is the memory of node n in update u's plan.
func (r *cpuRunner) view(u int, n *gorgonia.Node) []float32 {
	s, _ := r.plans[u].Slot(n)
	return r.cpu.View(s)
}

func (r *cpuRunner) run(u int, x0, labels []float32, key uint64, step int, lr float64) (result, error) {
	tg, plan := r.c.tg, r.plans[u]
	if x0 != nil {
		if tg.Prepare != nil {
			tg.Prepare.PrepareHost(x0, key, func(n *gorgonia.Node) []float32 { return r.view(u, n) })
		} else if err := plan.Write(tg.X, x0); err != nil {
			return result{}, err
		}
	}
	if labels != nil {
		if err := plan.Write(tg.Labels, labels); err != nil {
			return result{}, err
		}
	}
	tg.RNG.Step = key
	for _, s := range tg.Schedules {
		if _, ok := plan.Slot(s.Node); ok {
			r.view(u, s.Node)[0] = s.Value(step)
		}
	}
	if err := plan.Run(); err != nil {
		return result{}, err
	}
	res, err := readResult(plan, tg.Updates[u])
	if err != nil {
		return res, err
	}
	res.norm = optim.GlobalNorm(r.grads[u])
	if !finite(res.loss) || !finite(res.norm) {
		return res, nil
	}
	g := tg.Updates[u].Group
	r.adam[g].Update(lr, optim.ClipScale(res.norm, r.clip[u]))
	if r.ema[g] != nil {
		r.ema[g].Update(r.params[g])
	}
	for i, s := range tg.State {
		if s.Update == u {
			optim.Follow(r.states[i], r.batches[i], s.MomentumAt(step))
		}
	}
	return res, nil
}

// readResult reads an update's loss and metrics from its plan.
func readResult(plan *engine.Plan, up model.Update) (result, error) {
	var v [1]float32
	if err := plan.Read(up.Loss, v[:]); err != nil {
		return result{}, err
	}
	res := result{loss: float64(v[0])}
	for _, m := range up.Metrics {
		if err := plan.Read(m.Node, v[:]); err != nil {
			return res, err
		}
		res.metrics = append(res.metrics, float64(v[0]))
	}
	return res, nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// state returns views of the runner's memory, not copies.
func (r *cpuRunner) state() (*runState, error) {
	s := &runState{State: r.states}
	for g := range r.c.tg.Groups {
		gs := groupState{Params: r.params[g], M: r.adam[g].M, V: r.adam[g].V, AdamStep: r.adam[g].Step}
		if e := r.ema[g]; e != nil {
			gs.EMA, gs.EMAUpdates = e.Shadow, e.Updates
		}
		s.Groups = append(s.Groups, gs)
	}
	return s, nil
}

func (r *cpuRunner) setState(s *runState) error {
	for g, gs := range s.Groups {
		parts := []struct{ dst, src [][]float32 }{{r.params[g], gs.Params}, {r.adam[g].M, gs.M}, {r.adam[g].V, gs.V}}
		if e := r.ema[g]; e != nil {
			parts = append(parts, struct{ dst, src [][]float32 }{e.Shadow, gs.EMA})
			e.Updates = gs.EMAUpdates
		}
		for _, part := range parts {
			for i := range part.dst {
				copy(part.dst[i], part.src[i])
			}
		}
		r.adam[g].Step = gs.AdamStep
	}
	for i, v := range s.State {
		copy(r.states[i], v)
	}
	return nil
}

func (r *cpuRunner) memory() (int64, int64) { return r.plans[0].Bytes(), 0 }

func (r *cpuRunner) close() {}
