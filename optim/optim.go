// Package optim updates a model's parameters from their gradients: Adam
// (as torch.optim.Adam), global-norm clipping, linear warm-up of the
// learning rate, an exponential moving average of the weights, and the
// following of state tensors (Follow). It works on any group of parameter
// tensors held as float32 slices; the GPU's fused versions of the same
// updates are gpu.Optimizer and gpu.Follow.
package optim

import (
	"math"

	"github.com/scoregen/scoregen/configs"
)

// Adam is Adam with bias correction (Kingma & Ba 2015), as torch.optim.Adam
// without weight decay, over a model's parameter tensors in place.
type Adam struct {
	Beta1, Beta2, Eps float64
	Step              int         // updates done so far
	M, V              [][]float32 // first and second moments, one per parameter
	params, grads     [][]float32
}

// NewAdam returns Adam for params, whose gradients will be in grads.
func NewAdam(params, grads [][]float32, beta1, beta2, eps float64) *Adam {
	a := &Adam{Beta1: beta1, Beta2: beta2, Eps: eps, params: params, grads: grads}
	for _, p := range params {
		a.M = append(a.M, make([]float32, len(p)))
		a.V = append(a.V, make([]float32, len(p)))
	}
	return a
}

// Update applies one step with learning rate lr to gradients multiplied by
// gradScale (the clipping factor).
func (a *Adam) Update(lr, gradScale float64) {
	a.Step++
	b1, b2, s := float32(a.Beta1), float32(a.Beta2), float32(gradScale)
	c1 := 1 - math.Pow(a.Beta1, float64(a.Step))
	c2 := 1 - math.Pow(a.Beta2, float64(a.Step))
	// p -= lr * (m/c1) / (sqrt(v/c2) + eps), written as torch does it.
	stepSize, sqrtC2, eps := float32(lr/c1), float32(math.Sqrt(c2)), float32(a.Eps)
	for i, p := range a.params {
		g, m, v := a.grads[i], a.M[i], a.V[i]
		for j := range p {
			gj := g[j] * s
			m[j] = b1*m[j] + (1-b1)*gj
			v[j] = b2*v[j] + (1-b2)*gj*gj
			p[j] -= stepSize * m[j] / (float32(math.Sqrt(float64(v[j])))/sqrtC2 + eps)
		}
	}
}

// GlobalNorm is the Euclidean norm of all gradients together.
func GlobalNorm(grads [][]float32) float64 {
	var ss float64
	for _, g := range grads {
		for _, x := range g {
			ss += float64(x) * float64(x)
		}
	}
	return math.Sqrt(ss)
}

// ClipScale is the factor that scales gradients of global norm `norm` to a
// norm of at most maxNorm, as score_sde does: maxNorm / max(norm, maxNorm).
// maxNorm 0 turns clipping off.
func ClipScale(norm, maxNorm float64) float64 {
	if maxNorm <= 0 {
		return 1
	}
	return maxNorm / math.Max(norm, maxNorm)
}

// LRAt is the learning rate of step (counted from 1): LR scaled linearly
// from 0 over the first Warmup steps, as score_sde's optimization manager
// (lr * min(step / warmup, 1)), and down to 0 over the last Cooldown of
// Steps, as a warmup-stable-decay schedule (torch's LinearLR with
// end_factor 0 over the run's tail), which steadies a short run's last
// weights.
func (s Settings) LRAt(step int) float64 {
	lr := s.LR
	if s.Warmup > 0 {
		lr *= math.Min(float64(step)/float64(s.Warmup), 1)
	}
	if s.Cooldown > 0 {
		lr *= math.Min(float64(s.Steps-step)/float64(s.Cooldown), 1)
	}
	return math.Max(lr, 0)
}

// EMA is an exponential moving average of parameters, as score_sde_pytorch's
// ExponentialMovingAverage: the decay starts small (EMADecay), so that
// early averages do not remember the random initialisation.
type EMA struct {
	Decay   float64
	Ramp    float64 // the warm-up's constant (EMADecay)
	Updates int
	Shadow  [][]float32
}

// DefaultEMARamp is score_sde's warm-up (TensorFlow's num_updates): the
// decay (1+n)/(10+n), which averages about the last ninth of the updates.
const DefaultEMARamp = 10

// EMADecay is the decay of update n (counted from 1) of an average whose
// decay is decay after its warm-up: min(decay, (1+n)/(ramp+n)). Until the
// cap, 1 - decay = (ramp-1)/(ramp+n), so the average weighs about the last
// 1/(ramp-1) of the updates: ramp 10 the last ninth, 4 the last third, 2
// all of them equally (a running mean); ramp 1 has no warm-up.
func EMADecay(decay, ramp float64, n int) float64 {
	return math.Min(decay, float64(1+n)/(ramp+float64(n)))
}

// NewEMA starts an average at the current parameters, with the decay
// decay after a warm-up of constant ramp (EMADecay).
func NewEMA(params [][]float32, decay, ramp float64) *EMA {
	e := &EMA{Decay: decay, Ramp: ramp}
	for _, p := range params {
		e.Shadow = append(e.Shadow, append([]float32(nil), p...))
	}
	return e
}

// Update moves the average towards params.
func (e *EMA) Update(params [][]float32) {
	e.Updates++
	d := EMADecay(e.Decay, e.Ramp, e.Updates)
	keep, take := float32(d), float32(1-d)
	for i, p := range params {
		s := e.Shadow[i]
		for j := range p {
			s[j] = keep*s[j] + take*p[j]
		}
	}
}

// Follow moves a state tensor towards its batch value after a step, as
// torch's BatchNorm moves its running statistics (and a consistency model
// its target network): value = (1 - momentum) value + momentum batch, in
// float32. The GPU's is kernels/optim.cu's follow.
func Follow(value, batch []float32, momentum float64) {
	keep, take := float32(1-momentum), float32(momentum)
	for i := range value {
		value[i] = keep*value[i] + take*batch[i]
	}
}

// FromTrain are the settings an experiment's train section gives a group:
// its learning rate and its schedule, betas, clipping and EMA, with Adam's
// epsilon 1e-8 (torch's default, as score_sde). A run shorter than its
// cooldown cools down over all its steps.
func FromTrain(t configs.Train) Settings {
	return Settings{LR: t.LR, Beta1: t.Beta1, Beta2: t.Beta2, Eps: 1e-8, Warmup: t.Warmup, Cooldown: min(t.Cooldown, t.Steps), Steps: t.Steps, Clip: t.GradClip, EMA: t.EMA, EMARamp: t.EMARamp}
}

// Settings are one parameter group's optimiser: Adam's learning rate,
// betas and epsilon, the schedule (warm-up and cooldown), the clipping
// and the EMA decay.
type Settings struct {
	LR, Beta1, Beta2, Eps float64
	Warmup                int     // steps of linear warm-up (LRAt)
	Cooldown              int     // the last steps of Steps, over which LRAt falls linearly to 0; 0 for none
	Steps                 int     // the run's length, where a cooldown ends
	Clip                  float64 // global-norm clipping of the group's gradient; 0 for none
	EMA                   float64 // decay of the weights' moving average; 0 keeps none
	EMARamp               float64 // the average's warm-up constant (EMADecay)
}
