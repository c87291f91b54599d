//go:build gpu

package nn

import (
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/gpu"
)

var _ gpu.Op = (*uniformLike)(nil)

func (o *uniformLike) ScratchGPU([]tensor.Shape) int { return 0 }

// BindGPU reads the RNG's seed and step from device memory that the
// backend refreshes before each run, as dropout's launcher does.
func (o *uniformLike) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	seed, err := b.Uniform(&o.rng.Seed)
	if err != nil {
		return nil, err
	}
	step, err := b.Uniform(&o.rng.Step)
	if err != nil {
		return nil, err
	}
	n := c.Out.Size()
	dev := b.D
	args := []any{c.Out.Ptr, n, seed, o.stream, step}
	return func() error { return dev.Launch("uniform_like", dev.Grid((n+3)/4), gpu.Threads, args...) }, nil
}
