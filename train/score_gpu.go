//go:build gpu

package train

import (
	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/gpu"
	"github.com/scoregen/scoregen/sde"
)

// gpuSampler is the score network's graph with an Euler-Maruyama step fused
// around it: each sampler step is one upload of the step's values and one
// graph replay, and x stays on the device throughout.
type gpuSampler struct {
	m  *ScoreModel
	b  *gpu.Backend
	em *gpu.EMStep
	x  gpu.Buf
}

// compileGPUScore compiles m's network on a new GPU context.
func compileGPUScore(m *ScoreModel, g configs.GPU) (err error) {
	dev, err := gpu.Open(0, gpu.Options{TF32: g.TF32})
	if err != nil {
		return err
	}
	b := gpu.NewBackend(dev)
	m.close = func() {
		b.Close()
		dev.Close()
	}
	defer func() {
		if err != nil {
			m.close()
		}
	}()
	if m.plan, err = engine.Compile(gorgonia.Nodes{m.net.Out}, b); err != nil {
		return err
	}
	fused := &gpuSampler{m: m, b: b}
	if err := fused.bind(); err != nil {
		return err
	}
	m.fused = fused
	return nil
}

// bind adds the EM step, switched off, around the network before the graph
// is recorded: Score replays it off, sampleEM on.
func (s *gpuSampler) bind() error {
	slot := func(n *gorgonia.Node) gpu.Buf {
		sl, _ := s.m.plan.Slot(n)
		return s.b.Slot(sl)
	}
	em, err := s.b.NewEMStep(slot(s.m.net.X), slot(s.m.net.T), slot(s.m.net.Out))
	if err != nil {
		return err
	}
	em.Off()
	s.em, s.x = em, slot(s.m.net.X)
	s.b.Pre = []func() error{em.Pre()}
	s.b.Post = []func() error{em.Post()}
	return nil
}

func (s *gpuSampler) scoreOnly() { s.em.Off() }

func (s *gpuSampler) sampleEM(sched []sde.EMStep, priorStd float64, seed uint64, progress func(step int)) ([]float32, error) {
	if err := s.b.D.Do(func() error { return s.b.Prior(s.x, priorStd, seed) }); err != nil {
		return nil, err
	}
	for i, st := range sched {
		s.em.Set(st.T, st.F, st.G, st.Std, st.DT, st.Last, seed, st.Draw)
		if err := s.m.plan.Run(); err != nil {
			return nil, err
		}
		if progress != nil {
			progress(i + 1)
		}
	}
	x := make([]float32, s.x.Size())
	return x, s.m.plan.Read(s.m.net.X, x)
}
