//go:build gpu

package score

import (
	"fmt"

	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/gpu"
)

// PrepareGPU is PrepareHost as one kernel in the update's CUDA graph: from
// the clean batch at x0 it draws the network's inputs, keyed by *key, which
// the backend reads at each replay.
func (p *Perturb) PrepareGPU(b *gpu.Backend, x0 gpu.Buf, input func(*gorgonia.Node) gpu.Buf, key *uint64) (func() error, error) {
	s, err := gpuSDE(p.Config)
	if err != nil {
		return nil, err
	}
	return b.Perturb(s, x0, input(p.XT), input(p.Z), input(p.T), p.Eps, p.Seed, key)
}

// gpuSDE is the SDE as the kernels name it.
func gpuSDE(c configs.SDE) (gpu.SDE, error) {
	switch c.Type {
	case "ve":
		return gpu.SDE{Kind: gpu.VE, A: c.SigmaMin, B: c.SigmaMax}, nil
	case "vp":
		return gpu.SDE{Kind: gpu.VP, A: c.BetaMin, B: c.BetaMax}, nil
	case "subvp":
		return gpu.SDE{Kind: gpu.SubVP, A: c.BetaMin, B: c.BetaMax}, nil
	}
	return gpu.SDE{}, fmt.Errorf("sde.type %q: want ve, vp or subvp", c.Type)
}
