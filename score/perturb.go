package score

import (
	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/sde"
)

// Perturb is the score family's model.Preparer: from the clean batch it
// draws the times T, the noise Z and the noised batch XT, the network's
// inputs, keyed by (Seed, the update's key) as sde.Perturb does, and the
// dropped labels (labelDrop). On the GPU the same numbers come from one
// fused noising kernel and the label drop's (PrepareGPU).
type Perturb struct {
	SDE      sde.SDE
	Seed     uint64
	Eps      float64 // the smallest t
	XT, Z, T *gorgonia.Node
	labelDrop
}

// PrepareHost noises x0 into the plan's inputs.
func (p *Perturb) PrepareHost(x0 []float32, key uint64, input func(*gorgonia.Node) []float32) {
	t := input(p.T)
	sde.Perturb(p.SDE, x0, input(p.XT), input(p.Z), t, len(t), p.Seed, key, p.Eps)
	p.draw(key, input)
}

// labelDrop draws, for a class-conditional network (Keep and Null not
// nil), which labels of the batch are dropped to "no label", as
// DropLabels with probability P, keyed by (Seed, the update's key); on the
// GPU by kernels/sde.cu's label_drop (PrepareGPU).
type labelDrop struct {
	Seed       uint64
	P          float64
	Keep, Null *gorgonia.Node
}

func (d labelDrop) draw(key uint64, input func(*gorgonia.Node) []float32) {
	if d.Keep == nil {
		return
	}
	DropLabels(input(d.Keep), input(d.Null), d.P, d.Seed, key)
}

// DropLabels writes which labels of a batch are dropped to "no label" in
// classifier-free guidance's training, so that one network learns the
// conditional and the unconditional score: sample i's where uniform i of
// (seed, sde.StreamUncond, key) is below p, keep[i] = 0 and null[i] = 1;
// elsewhere keep[i] = 1 and null[i] = 0. It is the CPU reference of
// kernels/sde.cu's label_drop, which draws the same bit for bit.
func DropLabels(keep, null []float32, p float64, seed, key uint64) {
	sde.Uniforms(null, seed, sde.StreamUncond, key, 0)
	for i, u := range null {
		keep[i] = 1
		if float64(u) < p {
			keep[i] = 0
		}
		null[i] = 1 - keep[i]
	}
}

// FlowPerturb is the flow-matching objective's model.Preparer: from the
// clean batch it draws the times T and the path's point XT, and writes the
// target velocity into Target (the node the loss compares the network's
// output with), as sde.FlowPerturb; on the GPU the noising kernel's flow
// kind (PrepareGPU).
type FlowPerturb struct {
	Seed          uint64
	Eps           float64 // the smallest t
	XT, Target, T *gorgonia.Node
	labelDrop
}

// PrepareHost draws the flow-matching batch into the plan's inputs.
func (p *FlowPerturb) PrepareHost(x0 []float32, key uint64, input func(*gorgonia.Node) []float32) {
	t := input(p.T)
	sde.FlowPerturb(x0, input(p.XT), input(p.Target), t, len(t), p.Seed, key, p.Eps)
	p.draw(key, input)
}
