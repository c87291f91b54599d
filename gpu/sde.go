//go:build gpu

package gpu

import (
	"math"
)

// SDE names a forward SDE for the kernels, with its two parameters: VE's
// sigma_min and sigma_max, or VP's and sub-VP's beta_min and beta_max
// (SDE_* in kernels/common.cuh).
type SDE struct {
	Kind int
	A, B float64
}

// The kinds of SDE.
const (
	VE = iota
	VP
	SubVP
)

// Philox streams of sde/noise.go that the kernels take as arguments.
const (
	streamPrior     uint32 = 0x5DE00003
	streamPredictor uint32 = 0x5DE00004
)

// Perturb is sde.Perturb on the device, for Backend.Pre: from the clean
// batch at x0 it draws t, z and x_t into the plan's inputs, keyed by
// (seed, *step), where *step is read at each Run.
func (b *Backend) Perturb(s SDE, x0, xt, z, t Buf, eps float64, seed uint64, step *uint64) (func() error, error) {
	stepDev, err := b.Uniform(step)
	if err != nil {
		return nil, err
	}
	batch := t.Size()
	d := xt.Size() / batch
	dev := b.D
	return func() error {
		return dev.Launch("perturb", dev.Grid(batch*d), Threads, xt.Ptr, z.Ptr, t.Ptr, x0.Ptr, batch, d, s.Kind, s.A, s.B, eps, seed, stepDev)
	}, nil
}

// EMStep is one Euler-Maruyama step of the reverse SDE on the device, as in
// sde.EulerMaruyama: Pre sets the score network's time input, Post moves x
// using the network's output. Set gives each step's values before Run;
// after Off, Run only evaluates the network.
type EMStep struct {
	ctl  []uint64 // em_ctl: t, f, g2, dt, noise (float64 bits), last, draw, score_scale (float64 bits), active, seed
	pre  func() error
	post func() error
}

// NewEMStep binds the step to the score network's input x and time t and its
// output epsHat, the predicted noise (slots of b's plan).
func (b *Backend) NewEMStep(x, t, epsHat Buf) (*EMStep, error) {
	e := &EMStep{ctl: make([]uint64, 10)}
	ctl, err := b.UniformBlock(e.ctl)
	if err != nil {
		return nil, err
	}
	dev, n, batch := b.D, x.Size(), t.Size()
	e.pre = func() error { return dev.Launch("fill_time", dev.Grid(batch), Threads, t.Ptr, batch, ctl) }
	e.post = func() error {
		return dev.Launch("em_step", dev.Grid(n), Threads, x.Ptr, epsHat.Ptr, n, ctl, streamPredictor)
	}
	return e, nil
}

// Pre and Post are the step's launches for Backend.Pre and Backend.Post.
func (e *EMStep) Pre() func() error  { return e.pre }
func (e *EMStep) Post() func() error { return e.post }

// Set gives the next step's values: the score at time t, the SDE's drift
// coefficient f, diffusion g and std there (score = -eps_hat/std), the step
// dt (negative), whether it is the last step (no noise), and the Philox
// key of its noise (seed, draw).
func (e *EMStep) Set(t, f, g, std, dt float64, last bool, seed, draw uint64) {
	lastWord := uint64(0)
	if last {
		lastWord = 1
	}
	for i, v := range []float64{t, f, g * g, dt, g * math.Sqrt(-dt)} {
		e.ctl[i] = math.Float64bits(v)
	}
	e.ctl[5], e.ctl[6] = lastWord, draw
	e.ctl[7] = math.Float64bits(float64(float32(-1 / std)))
	e.ctl[8], e.ctl[9] = 1, seed
}

// Off makes the step's kernels do nothing until the next Set, so that a
// Run only evaluates the network (at the time the caller wrote).
func (e *EMStep) Off() { e.ctl[8] = 0 }

// Prior fills x with the prior sample x(T) = sd z, z from (seed,
// StreamPrior, 0), as the CPU samplers start. It runs inside Do.
func (b *Backend) Prior(x Buf, sd float64, seed uint64) error {
	n := x.Size()
	return b.D.Launch("normals", b.D.Grid(n), Threads, x.Ptr, n, sd, seed, streamPrior, uint64(0))
}
