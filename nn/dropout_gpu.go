//go:build gpu

package nn

import (
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/gpu"
)

func (o *dropout) ScratchGPU([]tensor.Shape) int     { return 0 }
func (o *dropoutGrad) ScratchGPU([]tensor.Shape) int { return 0 }

func (o *dropout) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	return bindDropGPU(o.drop, b, c)
}

func (o *dropoutGrad) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	return bindDropGPU(o.drop, b, c)
}

// bindDropGPU reads the RNG's seed and step from device memory that the
// backend refreshes before each run, as the CPU kernel reads them each call.
func bindDropGPU(d drop, b *gpu.Backend, c *gpu.Call) (func() error, error) {
	seed, err := b.Uniform(&d.rng.Seed)
	if err != nil {
		return nil, err
	}
	step, err := b.Uniform(&d.rng.Step)
	if err != nil {
		return nil, err
	}
	n := c.Out.Size()
	dev := b.D
	blocks := (n + 3) / 4
	args := []any{c.Out.Ptr, c.In[0].Ptr, n, dropThreshold(d.p), float32(1 / (1 - d.p)), seed, d.stream, step}
	return func() error { return dev.Launch("dropout", dev.Grid(blocks), gpu.Threads, args...) }, nil
}
