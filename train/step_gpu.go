//go:build gpu

package train

import (
	"fmt"

	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/device"
	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/gpu"
)

// gpuPreparer is a model.Preparer that also runs on the GPU, as a kernel
// launched at the start of the update's CUDA graph (the score family's
// noising): from the clean batch at x0 into the plan's inputs, keyed by
// *key, which the backend reads at each replay.
type gpuPreparer interface {
	PrepareGPU(b *gpu.Backend, x0 gpu.Buf, input func(*gorgonia.Node) gpu.Buf, key *uint64) (func() error, error)
}

// gpuRunner runs each update as one CUDA graph: the preparation kernel
// (if any), the plan, then the group's optimiser's three launches and the
// following of the update's state tensors (gpu.Follow), if any. Only
// the clean batch goes up and the loss, norm and metrics come back.
type gpuRunner struct {
	c   *compiled
	p   *device.Plans
	b   *gpu.Backend
	opt []*gpu.Optimizer // per update
	// follow are, per update, its state tensors' following (nil without
	// any), and states their indices in TrainGraph.State.
	follow []*gpu.Follow
	states [][]int
	x0     gpu.Ptr     // the clean batch on the device, when the family prepares its inputs
	host   *gpu.Pinned // the clean batch's staging buffer
	n      int         // elements of a batch
}

func newGPURunner(c *compiled, cfg *configs.Config) (_ runner, err error) {
	p, err := device.Compile("cuda", device.Options{GPU: cfg.GPU}, c.outputs()...)
	if err != nil {
		return nil, err
	}
	r := &gpuRunner{c: c, p: p, b: p.Backend.(*gpu.Backend)}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	tg := c.tg
	for u, up := range tg.Updates {
		group := tg.Groups[up.Group]
		params, grads := make([]engine.Slot, len(group.Params)), make([]engine.Slot, len(group.Params))
		for i, w := range group.Params {
			params[i], grads[i] = r.slot(u, w), r.slot(u, c.grads[u][i])
		}
		o := group.Optim
		opt, err := gpu.NewOptimizer(r.b, params, grads, r.slot(u, up.Loss), o.Beta1, o.Beta2, o.Eps, o.Clip, o.EMA, o.EMARamp)
		if err != nil {
			return nil, err
		}
		r.opt = append(r.opt, opt)
		p.Plans[u].Post = opt.Post()
		var values, batches []engine.Slot
		var states []int
		for i, st := range tg.State {
			if st.Update == u {
				values, batches, states = append(values, r.slot(u, st.Value)), append(batches, r.slot(u, st.Batch)), append(states, i)
			}
		}
		var follow *gpu.Follow
		if len(states) > 0 {
			if follow, err = gpu.NewFollow(opt, values, batches); err != nil {
				return nil, err
			}
			p.Plans[u].Post = append(p.Plans[u].Post, follow.Post()...)
		}
		r.follow, r.states = append(r.follow, follow), append(r.states, states)
	}
	r.n = c.batchShape.TotalSize()
	prep, ok := tg.Prepare.(gpuPreparer)
	if tg.Prepare != nil && !ok {
		return nil, fmt.Errorf("device cuda: the family prepares its inputs on the host only (%T)", tg.Prepare)
	}
	for u, up := range tg.Updates {
		if !up.Data || prep == nil {
			continue
		}
		if r.x0 == 0 {
			err := r.b.D.Do(func() (err error) {
				r.x0, err = r.b.D.Pool.Alloc(4 * int64(r.n))
				return err
			})
			if err != nil {
				return nil, err
			}
		}
		input := func(n *gorgonia.Node) gpu.Buf { return r.b.Slot(r.slot(u, n)) }
		pre, err := prep.PrepareGPU(r.b, gpu.Buf{Ptr: r.x0, Shape: c.batchShape}, input, &tg.RNG.Step)
		if err != nil {
			return nil, err
		}
		p.Plans[u].Pre = []func() error{pre}
	}
	err = r.b.D.Do(func() (err error) {
		r.host, err = gpu.AllocPinned(max(r.n, 1))
		return err
	})
	return r, err
}

// slot is where node n lives in update u's plan.
func (r *gpuRunner) slot(u int, n *gorgonia.Node) engine.Slot {
	s, _ := r.p.Plans[u].Slot(n)
	return s
}

func (r *gpuRunner) run(u int, x0, labels []float32, key uint64, step int, lr float64) (result, error) {
	tg, plan := r.c.tg, r.p.Plans[u]
	if x0 != nil {
		if len(x0) != r.n {
			return result{}, fmt.Errorf("batch of %d values, the step takes %d", len(x0), r.n)
		}
		dst := r.x0
		if dst == 0 { // no preparation: the batch goes straight into X
			s, ok := plan.Slot(tg.X)
			if !ok {
				return result{}, fmt.Errorf("update %d reads data, and its plan has no input %q", u, tg.X.Name())
			}
			dst = r.b.Slot(s).Ptr
		}
		err := r.b.D.Do(func() error {
			copy(r.host.Floats(), x0)
			return r.b.D.Upload(dst, r.host, r.n)
		})
		if err != nil {
			return result{}, err
		}
	}
	// The labels are small (a row of classes per image): a plain write,
	// as the schedules'.
	if labels != nil {
		if err := plan.Write(tg.Labels, labels); err != nil {
			return result{}, err
		}
	}
	tg.RNG.Step = key
	for _, s := range tg.Schedules {
		if _, ok := plan.Slot(s.Node); ok {
			if err := plan.Write(s.Node, []float32{s.Value(step)}); err != nil {
				return result{}, err
			}
		}
	}
	if f := r.follow[u]; f != nil {
		momentum := make([]float64, len(r.states[u]))
		for i, st := range r.states[u] {
			momentum[i] = tg.State[st].MomentumAt(step)
		}
		if err := f.Next(momentum); err != nil {
			return result{}, err
		}
	}
	opt := r.opt[u]
	opt.Next(lr)
	if err := plan.Run(); err != nil {
		return result{}, err
	}
	res, err := readResult(plan, tg.Updates[u])
	if err != nil {
		return res, err
	}
	res.norm, err = opt.Settle(res.loss)
	return res, err
}

func (r *gpuRunner) state() (*runState, error) {
	tg := r.c.tg
	s := &runState{}
	for g, group := range tg.Groups {
		u := r.c.updater[g]
		st, err := r.opt[u].Read()
		if err != nil {
			return nil, err
		}
		gs := groupState{M: st.M, V: st.V, AdamStep: r.opt[u].Step}
		if group.Optim.EMA > 0 {
			gs.EMA, gs.EMAUpdates = st.EMA, r.opt[u].EMAUpdates
		}
		for _, p := range group.Params {
			w := make([]float32, p.Shape().TotalSize())
			if err := r.p.Plans[u].Read(p, w); err != nil {
				return nil, err
			}
			gs.Params = append(gs.Params, w)
		}
		s.Groups = append(s.Groups, gs)
	}
	for _, st := range tg.State {
		v := make([]float32, st.Value.Shape().TotalSize())
		if err := r.p.Plans[st.Update].Read(st.Value, v); err != nil {
			return nil, err
		}
		s.State = append(s.State, v)
	}
	return s, nil
}

func (r *gpuRunner) setState(s *runState) error {
	tg := r.c.tg
	for g, group := range tg.Groups {
		u, gs := r.c.updater[g], s.Groups[g]
		for i, p := range group.Params {
			if err := r.p.Plans[u].Write(p, gs.Params[i]); err != nil {
				return err
			}
		}
		ema := gs.EMA
		if ema == nil { // a group without an EMA: the optimiser's copy follows the weights
			ema = gs.Params
		}
		r.opt[u].Step, r.opt[u].EMAUpdates = gs.AdamStep, gs.EMAUpdates
		if err := r.opt[u].Write(gpu.State{M: gs.M, V: gs.V, EMA: ema}); err != nil {
			return err
		}
	}
	for i, st := range tg.State {
		if err := r.p.Plans[st.Update].Write(st.Value, s.State[i]); err != nil {
			return err
		}
	}
	return nil
}

func (r *gpuRunner) memory() (int64, int64) {
	var peak int64
	r.b.D.Do(func() error { peak = r.b.D.Pool.Peak; return nil }) // the pool belongs to the device's thread
	return r.p.Plans[0].Bytes(), peak
}

func (r *gpuRunner) close() {
	r.b.D.Do(func() error {
		if r.host != nil {
			r.b.D.FreePinned(r.host)
		}
		if r.x0 != 0 {
			r.b.D.Pool.Free(r.x0)
		}
		return nil
	})
	r.p.Close()
}
