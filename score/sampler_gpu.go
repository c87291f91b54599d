//go:build gpu

package score

import (
	"fmt"

	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/device"
	"github.com/scoregen/scoregen/gpu"
	"github.com/scoregen/scoregen/sde"
)

// gpuSampler is the score network's graph with a sampler step fused around
// it: each sampler step (predictor or corrector) is one upload of the
// step's values and one graph replay, and x stays on the device
// throughout.
type gpuSampler struct {
	m    *ScoreModel
	b    *gpu.Backend
	step *gpu.SamplerStep
	x    gpu.Buf
}

// compileGPUScore compiles m's network on a new GPU context, with the
// sampler step (off) around it.
func compileGPUScore(m *ScoreModel, name string, g configs.GPU) (err error) {
	p, err := device.Compile(name, device.Options{GPU: g}, gorgonia.Nodes{m.net.Out})
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	b := p.Backend.(*gpu.Backend)
	plan := p.Plans[0]
	buf := func(n *gorgonia.Node) gpu.Buf {
		s, _ := plan.Slot(n)
		return b.Slot(s)
	}
	step, err := b.NewSamplerStep(buf(m.net.X), buf(m.net.T), buf(m.net.Out))
	if err != nil {
		return err
	}
	plan.Pre = step.Pre()
	plan.Post = step.Post()
	m.plan, m.close = plan, p.Close
	m.fused = &gpuSampler{m: m, b: b, step: step, x: buf(m.net.X)}
	return nil
}

func (s *gpuSampler) scoreOnly() { s.step.Off() }

// begin draws the prior into x on the device, for images first, first+1,
// ... of the run, and readies the step for them.
func (s *gpuSampler) begin(priorStd float64, seed uint64, first int) error {
	off, err := sde.NoiseOffset(first, s.m.batch, s.m.Dim)
	if err != nil {
		return err
	}
	return s.b.D.Do(func() error {
		if err := s.step.Begin(int64(off)); err != nil {
			return err
		}
		return s.b.Prior(s.x, priorStd, seed, int64(off))
	})
}

func (s *gpuSampler) sampleLevels(sched []sde.LevelStep, priorStd float64, seed uint64, first int, x []float32, progress func(step int)) error {
	if err := s.begin(priorStd, seed, first); err != nil {
		return err
	}
	for i, st := range sched {
		s.step.Level(st, seed)
		if err := s.m.plan.Run(); err != nil {
			return err
		}
		if progress != nil && sde.EndsStep(sched, i) {
			progress(st.Step + 1)
		}
	}
	return s.m.plan.Read(s.m.net.X, x)
}

func (s *gpuSampler) sampleConsistency(c *sde.Consistency, steps []sde.ConsistencyStep, seed uint64, first int, x []float32, progress func(step int)) error {
	if err := s.begin(steps[0].T, seed, first); err != nil {
		return err
	}
	for i, st := range steps {
		s.step.Consistency(c, st, seed)
		if err := s.m.plan.Run(); err != nil {
			return err
		}
		if progress != nil {
			progress(i + 1)
		}
	}
	return s.m.plan.Read(s.m.net.X, x)
}

func (s *gpuSampler) sampleODE(sched sde.ODESchedule, priorStd float64, seed uint64, first int, x []float32, progress func(step int)) error {
	if err := s.begin(priorStd, seed, first); err != nil {
		return err
	}
	if err := s.b.D.Do(func() error { return s.step.BeginODE(sched.M0) }); err != nil {
		return err
	}
	for _, e := range sched.Evals {
		s.step.ODE(e)
		if err := s.m.plan.Run(); err != nil {
			return err
		}
		if progress != nil && e.Phase != sde.ODEHeunPredict {
			progress(e.Step + 1)
		}
	}
	return s.m.plan.Read(s.m.net.X, x)
}

func (s *gpuSampler) sample(sched []sde.SamplerStep, priorStd float64, seed uint64, first int, x []float32, progress func(step int)) error {
	if err := s.begin(priorStd, seed, first); err != nil {
		return err
	}
	for _, st := range sched {
		if st.Corrector {
			s.step.Corrector(st.T, st.Std, st.SNR, st.Alpha, seed, st.Draw)
		} else {
			s.step.Predictor(st.T, st.Std, st.F, st.G, st.DT, st.Last, seed, st.Draw)
		}
		if err := s.m.plan.Run(); err != nil {
			return err
		}
		if st.Corrector {
			if err := s.checkCorrector(st); err != nil {
				return err
			}
		} else if progress != nil {
			progress(st.Step + 1)
		}
	}
	return s.m.plan.Read(s.m.net.X, x)
}

// checkCorrector turns the corrector kernel's failure flag into the error
// that sde.PredictorCorrector gives.
func (s *gpuSampler) checkCorrector(st sde.SamplerStep) error {
	var bad bool
	var norm float64
	err := s.b.D.Do(func() (err error) {
		bad, norm, err = s.step.Failed()
		return err
	})
	if err == nil && bad {
		err = fmt.Errorf("sde: step %d (t = %g), corrector %d: sde: Langevin corrector at t = %g: mean score norm is %v", st.Step, st.T, st.Sub, st.T, norm)
	}
	return err
}
