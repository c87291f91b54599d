//go:build gpu

package score

import (
	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/gpu"
	"github.com/scoregen/scoregen/sde"
)

// PrepareGPU is PrepareHost as one kernel in the update's CUDA graph: from
// the clean batch at x0 it draws the network's inputs, keyed by *key, which
// the backend reads at each replay.
func (p *Perturb) PrepareGPU(b *gpu.Backend, x0 gpu.Buf, input func(*gorgonia.Node) gpu.Buf, key *uint64) (func() error, error) {
	return b.Perturb(p.SDE.Kernel(), x0, input(p.XT), input(p.Z), input(p.T), p.Eps, p.Seed, key)
}

// PrepareGPU is PrepareHost as the noising kernel's flow kind, which
// writes the target velocity where Perturb's writes the noise.
func (p *FlowPerturb) PrepareGPU(b *gpu.Backend, x0 gpu.Buf, input func(*gorgonia.Node) gpu.Buf, key *uint64) (func() error, error) {
	return b.Perturb(sde.Kernel{Kind: sde.KindFlow}, x0, input(p.XT), input(p.Target), input(p.T), p.Eps, p.Seed, key)
}
