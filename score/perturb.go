package score

import (
	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/sde"
)

// Perturb is the score family's model.Preparer: from the clean batch it
// draws the times T, the noise Z and the noised batch XT, the network's
// inputs, keyed by (Seed, the update's key) as sde.Perturb does. On the
// GPU the same numbers come from one fused kernel (PrepareGPU).
type Perturb struct {
	SDE      sde.SDE
	Seed     uint64
	Eps      float64 // the smallest t
	XT, Z, T *gorgonia.Node
}

// PrepareHost noises x0 into the plan's inputs.
func (p *Perturb) PrepareHost(x0 []float32, key uint64, input func(*gorgonia.Node) []float32) {
	t := input(p.T)
	sde.Perturb(p.SDE, x0, input(p.XT), input(p.Z), t, len(t), p.Seed, key, p.Eps)
}

// FlowPerturb is the flow-matching objective's model.Preparer: from the
// clean batch it draws the times T and the path's point XT, and writes the
// target velocity into Target (the node the loss compares the network's
// output with), as sde.FlowPerturb. It has no GPU kernel.
type FlowPerturb struct {
	Seed          uint64
	Eps           float64 // the smallest t
	XT, Target, T *gorgonia.Node
}

// PrepareHost draws the flow-matching batch into the plan's inputs.
func (p *FlowPerturb) PrepareHost(x0 []float32, key uint64, input func(*gorgonia.Node) []float32) {
	t := input(p.T)
	sde.FlowPerturb(x0, input(p.XT), input(p.Target), t, len(t), p.Seed, key, p.Eps)
}
