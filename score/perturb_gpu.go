//go:build gpu

package score

import (
	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/gpu"
	"github.com/scoregen/scoregen/sde"
)

// PrepareGPU is PrepareHost as kernels in the update's CUDA graph: from
// the clean batch at x0 the noising kernel draws the network's inputs, and
// for a class-conditional network the label drop follows, both keyed by
// *key, which the backend reads at each replay.
func (p *Perturb) PrepareGPU(b *gpu.Backend, x0 gpu.Buf, input func(*gorgonia.Node) gpu.Buf, key *uint64) (func() error, error) {
	noise, err := b.Perturb(p.SDE.Kernel(), x0, input(p.XT), input(p.Z), input(p.T), p.Eps, p.Seed, key)
	if err != nil {
		return nil, err
	}
	return p.after(noise, b, input, key)
}

// PrepareGPU is PrepareHost as the noising kernel's flow kind, which
// writes the target velocity where Perturb's writes the noise, then the
// label drop as Perturb's.
func (p *FlowPerturb) PrepareGPU(b *gpu.Backend, x0 gpu.Buf, input func(*gorgonia.Node) gpu.Buf, key *uint64) (func() error, error) {
	noise, err := b.Perturb(sde.Kernel{Kind: sde.KindFlow}, x0, input(p.XT), input(p.Target), input(p.T), p.Eps, p.Seed, key)
	if err != nil {
		return nil, err
	}
	return p.after(noise, b, input, key)
}

// PrepareGPU is PrepareHost as one kernel (gpu.Backend's ConsistencyPair):
// the pair, both networks' inputs and the weights, keyed by *key.
func (p *ConsistencyPerturb) PrepareGPU(b *gpu.Backend, x0 gpu.Buf, input func(*gorgonia.Node) gpu.Buf, key *uint64) (func() error, error) {
	on, tg := p.Online.bufs(input), p.Target.bufs(input)
	var weight gpu.Buf
	if p.Weight != nil {
		weight = input(p.Weight)
	}
	return b.ConsistencyPair(p.CT, x0, on, tg, weight, p.Seed, key)
}

// bufs are the nodes' device memory in a plan.
func (n ctNodes) bufs(input func(*gorgonia.Node) gpu.Buf) gpu.ConsistencyInputs {
	return gpu.ConsistencyInputs{X: input(n.X), T: input(n.T), Skip: input(n.Skip), Out: input(n.Out)}
}

// after is noise, then, for a class-conditional network, the label drop
// on the device (gpu.Backend.LabelDrop) into the plan's Keep and Null,
// keyed by *key as the noising is; noise alone otherwise. The two run as
// one Pre, since train's GPU runner takes one launch from a preparer.
func (d labelDrop) after(noise func() error, b *gpu.Backend, input func(*gorgonia.Node) gpu.Buf, key *uint64) (func() error, error) {
	if d.Keep == nil {
		return noise, nil
	}
	drop, err := b.LabelDrop(input(d.Keep), input(d.Null), d.P, d.Seed, key)
	if err != nil {
		return nil, err
	}
	return func() error {
		if err := noise(); err != nil {
			return err
		}
		return drop()
	}, nil
}
