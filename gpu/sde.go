//go:build gpu

package gpu

import (
	"math"
	"unsafe"

	"github.com/scoregen/scoregen/sde"
)

// The Philox stream of the samplers' prior (sde.StreamPrior).
const streamPrior uint32 = 0x5DE00003

// Perturb is sde.Perturb on the device, for the Pre of a training plan: from the clean
// batch at x0 it draws t, z and x_t into the plan's inputs, keyed by
// (seed, *step), where *step is read at each Run. DDPM's table
// (s.LogAbar) goes to the device once, here, since it never changes.
func (b *Backend) Perturb(s sde.Kernel, x0, xt, z, t Buf, eps float64, seed uint64, step *uint64) (func() error, error) {
	stepDev, err := b.Uniform(step)
	if err != nil {
		return nil, err
	}
	dev := b.D
	var table Ptr // the kernel reads it for SDE_DDPM only
	if len(s.LogAbar) > 0 {
		if table, err = b.constants(s.LogAbar); err != nil {
			return nil, err
		}
	}
	batch := t.Size()
	d := xt.Size() / batch
	n := max(len(s.LogAbar)-1, 0)
	return func() error {
		return dev.Launch("perturb", dev.Grid(batch*d), Threads, xt.Ptr, z.Ptr, t.Ptr, x0.Ptr, batch, d, int(s.Kind), s.A, s.B,
			table, n, eps, seed, stepDev)
	}, nil
}

// LabelDrop is score.DropLabels on the device, for the Pre of a
// class-conditional training plan, after Perturb: into the plan's inputs
// keep and null (a value per sample) it writes which labels are dropped to
// "no label" with probability p, keyed by (seed, sde.StreamUncond, *step),
// where *step is read at each Run, so that each replay draws anew.
func (b *Backend) LabelDrop(keep, null Buf, p float64, seed uint64, step *uint64) (func() error, error) {
	stepDev, err := b.Uniform(step)
	if err != nil {
		return nil, err
	}
	dev, batch := b.D, keep.Size()
	return func() error {
		return dev.Launch("label_drop", dev.Grid(batch), Threads, keep.Ptr, null.Ptr, batch, p, seed, stepDev)
	}, nil
}

// constants copies v, a kernel's table that never changes, to new device
// memory once.
func (b *Backend) constants(v []float64) (Ptr, error) {
	var at Ptr
	bytes := int64(8 * len(v))
	err := b.D.Do(func() (err error) {
		if at, err = b.D.Pool.Alloc(bytes); err != nil {
			return err
		}
		return b.D.CopyIn(at, unsafe.Pointer(&v[0]), bytes)
	})
	return at, err
}

// ConsistencyInputs are one network's consistency inputs in a plan
// (sde.ConsistencyInputs on the device): X, T, Skip and Out.
type ConsistencyInputs struct{ X, T, Skip, Out Buf }

// ConsistencyPair is sde.Consistency's Pair, then its Inputs for each
// network, as one launch (kernels/sde.cu's ct_pair) for the Pre of a
// consistency training plan: from the clean batch at x0 it draws the
// pair on N(k) points, k being *step, read at each Run, and writes the
// online network's inputs at the later times, the target's at the
// earlier, and, if weight is not the zero Buf, each pair's loss weight
// (sde.Consistency's PairWeight). The tables of times and, for improved
// training, of index distributions (c's TimeTable and IndexTable) go to
// the device once, here.
func (b *Backend) ConsistencyPair(c *sde.Consistency, x0 Buf, online, target ConsistencyInputs, weight Buf, seed uint64, step *uint64) (func() error, error) {
	stepDev, err := b.Uniform(step)
	if err != nil {
		return nil, err
	}
	dev := b.D
	times, err := b.constants(c.TimeTable())
	if err != nil {
		return nil, err
	}
	var cdf Ptr
	kPrime := 0 // consistency training's N(k)
	if c.Improved {
		if cdf, err = b.constants(c.IndexTable()); err != nil {
			return nil, err
		}
		kPrime = c.KPrime()
	}
	batch := online.T.Size()
	d := x0.Size() / batch
	return func() error {
		return dev.Launch("ct_pair", dev.Grid(batch*d), Threads, online.X.Ptr, online.T.Ptr, online.Skip.Ptr, online.Out.Ptr,
			target.X.Ptr, target.T.Ptr, target.Skip.Ptr, target.Out.Ptr, weight.Ptr, x0.Ptr, batch, d, times, cdf, c.S0, c.S1,
			int64(c.K), int64(kPrime), c.Eps, c.SigmaData, seed, stepDev)
	}, nil
}

// SamplerStep is one step of a reverse-SDE sampler on the device, fused
// around the score network: Pre sets the network's time input, Post updates
// x from the network's output, by Euler-Maruyama (a predictor step, as
// sde.EulerMaruyama), Langevin (a corrector step, as
// sde.LangevinCorrector), a level sampler's step (sde.Ancestral and
// sde.DDIM) or a fixed-step ODE sampler's (sde.ODEEval: ODEEuler's and
// FlowSample's Euler and Heun), or Pre and Post make a step of consistency
// sampling (sde.ConsistencyStep). Predictor, Corrector, Level, ODE or
// Consistency gives each step's values before Run; after Off, Run only
// evaluates the network.
type SamplerStep struct {
	ctl  []uint64 // sampler_ctl in kernels/sde.cu, one word per field
	b    *Backend
	bad  Ptr // two doubles: the corrector's failure flag and mean score norm
	x    Buf
	y    Ptr // the fixed-step ODE samplers' state and first slope, n doubles each
	d1   Ptr
	pre  []func() error
	post []func() error
}

// The fields of sampler_ctl, in order, and its modes.
const (
	ctlT = iota
	ctlF
	ctlG2
	ctlDT
	ctlNoise
	ctlLast
	ctlDraw
	ctlScoreScale
	ctlMode
	ctlSeed
	ctlSNR
	ctlAlpha
	ctlOffset
	ctlA
	ctlB
	ctlC
	ctlPhase
	ctlK
	ctlH
	ctlMNext
	ctlStream
	ctlWords

	modeOff         = 0
	modePredictor   = 1
	modeCorrector   = 2
	modeLevel       = 3
	modeODE         = 4
	modeConsistency = 5
)

// NewSamplerStep binds the step to the score network's input x and time t
// and its output epsHat, the predicted noise (slots of b's plan, whose
// first axis is the batch). It starts Off.
func (b *Backend) NewSamplerStep(x, t, epsHat Buf) (*SamplerStep, error) {
	s := &SamplerStep{ctl: make([]uint64, ctlWords), b: b, x: x}
	ctl, err := b.UniformBlock(s.ctl)
	if err != nil {
		return nil, err
	}
	dev, n, batch := b.D, x.Size(), t.Size()
	var z, norms Ptr // z: the corrector's noise, or consistency's point v
	err = dev.Do(func() (err error) {
		if z, err = dev.Pool.Alloc(4 * int64(n)); err != nil {
			return err
		}
		if norms, err = dev.Pool.Alloc(8 * int64(2*batch)); err != nil {
			return err
		}
		if s.y, err = dev.Pool.Alloc(8 * int64(2*n)); err != nil {
			return err
		}
		s.d1 = s.y + Ptr(8*n)
		s.bad, err = dev.Pool.Alloc(16)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.pre = []func() error{
		func() error { return dev.Launch("fill_time", dev.Grid(batch), Threads, t.Ptr, batch, ctl) },
		func() error { return dev.Launch("ct_sample_in", dev.Grid(n), Threads, x.Ptr, z, n, ctl) },
	}
	s.post = []func() error{
		func() error { return dev.Launch("em_step", dev.Grid(n), Threads, x.Ptr, epsHat.Ptr, n, ctl) },
		func() error { return dev.Launch("level_step", dev.Grid(n), Threads, x.Ptr, epsHat.Ptr, n, ctl) },
		func() error {
			return dev.Launch("ode_step", dev.Grid(n), Threads, x.Ptr, s.y, s.d1, epsHat.Ptr, n, ctl)
		},
		func() error { return dev.Launch("langevin_noise", dev.Grid(n), Threads, z, n, ctl) },
		func() error {
			return dev.Launch("langevin_norms", batch, Threads, norms, epsHat.Ptr, z, n/batch, ctl)
		},
		func() error {
			return dev.Launch("langevin_step", dev.Grid(n), Threads, x.Ptr, epsHat.Ptr, z, norms, batch, n, ctl, s.bad)
		},
		func() error { return dev.Launch("ct_sample_out", dev.Grid(n), Threads, x.Ptr, z, epsHat.Ptr, n, ctl) },
	}
	return s, nil
}

// Pre and Post are the step's launches for the Pre and Post of the sampling plan.
func (s *SamplerStep) Pre() []func() error  { return s.pre }
func (s *SamplerStep) Post() []func() error { return s.post }

// Off makes the step's kernels do nothing until the next step's values
// are set (Predictor, Corrector, Level, ODE or Consistency), so that a Run
// only evaluates the network (at the time the caller wrote).
func (s *SamplerStep) Off() { s.ctl[ctlMode] = modeOff }

// set fills the values both kinds of step use: the score at time t, where
// the marginal std is std (score = -eps_hat/std), and the Philox key
// (seed, draw) of the step's noise.
func (s *SamplerStep) set(mode uint64, t, std float64, seed, draw uint64) {
	s.ctl[ctlMode], s.ctl[ctlT], s.ctl[ctlSeed], s.ctl[ctlDraw] = mode, math.Float64bits(t), seed, draw
	s.ctl[ctlScoreScale] = math.Float64bits(float64(float32(-1 / std))) // the CPU's float32 factor
}

// Predictor sets the next step to Euler-Maruyama from t by dt (negative),
// with drift coefficient f and diffusion g at t, and no noise if last.
func (s *SamplerStep) Predictor(t, std, f, g, dt float64, last bool, seed, draw uint64) {
	s.set(modePredictor, t, std, seed, draw)
	s.ctl[ctlF], s.ctl[ctlG2] = math.Float64bits(f), math.Float64bits(g*g)
	s.ctl[ctlDT], s.ctl[ctlNoise] = math.Float64bits(dt), math.Float64bits(g*math.Sqrt(-dt))
	s.ctl[ctlLast] = 0
	if last {
		s.ctl[ctlLast] = 1
	}
}

// Level sets the next step to a level sampler's step st: x = A x + B
// score + C z, z keyed by (seed, st.Stream, st.Draw), no noise where C = 0.
func (s *SamplerStep) Level(st sde.LevelStep, seed uint64) {
	s.set(modeLevel, st.T, st.Std, seed, st.Draw)
	s.ctl[ctlA], s.ctl[ctlB], s.ctl[ctlC] = math.Float64bits(st.A), math.Float64bits(st.B), math.Float64bits(st.C)
	s.ctl[ctlStream] = uint64(st.Stream)
}

// ODE sets the next evaluation to e's of a fixed-step ODE sampler
// (sde.ODEEval; after BeginODE): a score network's at e.Std, a velocity
// network's (e.Std = 0) unscaled.
func (s *SamplerStep) ODE(e sde.ODEEval) {
	s.set(modeODE, e.T, e.Std, 0, 0)
	if e.Std == 0 {
		s.ctl[ctlScoreScale] = math.Float64bits(1)
	}
	s.ctl[ctlPhase] = uint64(e.Phase)
	s.ctl[ctlK], s.ctl[ctlH], s.ctl[ctlMNext] = math.Float64bits(e.K), math.Float64bits(e.H), math.Float64bits(e.MNext)
}

// Consistency sets the next step to st of multistep consistency sampling
// with c (sde.Consistency's Sample): v = x + st.Noise z, the network at
// c_in v and its time input c_noise(st.T), then x = c_skip v + c_out F
// clipped to [-1, 1], as score.ScoreModel's consistency function. The
// float32 time input and c_out are the CPU's, computed here.
func (s *SamplerStep) Consistency(c *sde.Consistency, st sde.ConsistencyStep, seed uint64) {
	cSkip, cOut, cIn, cNoise := c.Scalings(st.T)
	s.set(modeConsistency, float64(float32(cNoise)), 1, seed, st.Draw) // the network's output is F, not a noise
	s.ctl[ctlNoise], s.ctl[ctlStream] = math.Float64bits(st.Noise), uint64(st.Stream)
	s.ctl[ctlA], s.ctl[ctlB], s.ctl[ctlC] = math.Float64bits(cIn), math.Float64bits(cSkip), math.Float64bits(float64(float32(cOut)))
}

// BeginODE starts a fixed-step ODE sampler from the prior in x: y = x / m0,
// x = float32(m0 y) (sde.ODESchedule's start). It runs inside Do.
func (s *SamplerStep) BeginODE(m0 float64) error {
	n := s.x.Size()
	return s.b.D.Launch("ode_begin", s.b.D.Grid(n), Threads, s.x.Ptr, s.y, n, m0)
}

// Corrector sets the next step to Langevin at t with score_sde's step-size
// rule (snr, alpha).
func (s *SamplerStep) Corrector(t, std, snr, alpha float64, seed, draw uint64) {
	s.set(modeCorrector, t, std, seed, draw)
	s.ctl[ctlSNR], s.ctl[ctlAlpha] = math.Float64bits(snr), math.Float64bits(alpha)
}

// Begin starts a sampling run whose noise starts at element off of each
// draw (the batch's first image in the run times the image's size): it
// sets that offset for the steps to come and clears the corrector's
// failure flag. It runs inside Do.
func (s *SamplerStep) Begin(off int64) error {
	s.ctl[ctlOffset] = uint64(off)
	return s.b.D.Fill32(s.bad, 0, 4)
}

// Failed reports whether a corrector step found a mean score norm that is
// not finite and positive, and that norm. It runs inside Do.
func (s *SamplerStep) Failed() (bool, float64, error) {
	var bad [2]float64
	if err := s.b.D.CopyOut(unsafe.Pointer(&bad[0]), s.bad, 16); err != nil {
		return false, 0, err
	}
	return bad[0] != 0, bad[1], nil
}

// Prior fills x with the prior sample x(T) = sd z, z from elements off, ...
// of (seed, StreamPrior, 0), as the CPU samplers start. It runs inside Do.
func (b *Backend) Prior(x Buf, sd float64, seed uint64, off int64) error {
	n := x.Size()
	return b.D.Launch("normals", b.D.Grid(n), Threads, x.Ptr, n, sd, seed, streamPrior, uint64(0), off)
}
