package sample

import (
	"fmt"

	"github.com/scoregen/scoregen/ckpt"
	"github.com/scoregen/scoregen/data"
	"github.com/scoregen/scoregen/grid"
	"github.com/scoregen/scoregen/model"
)

// Recon writes a grid of the first n test images (top row) above their
// reconstructions (bottom row) by the checkpoint's model, which must be a
// model.Reconstructor (a VAE), to o.Out. The test set is the checkpoint's
// data.name, from its data.dir.
func Recon(o Options, n int) error {
	if o.Family == nil {
		return fmt.Errorf("sample: Options.Family is not set")
	}
	if o.Out == "" {
		return fmt.Errorf("--recon %d: give --out for the grid", n)
	}
	c, err := ckpt.Open(o.Ckpt)
	if err != nil {
		return err
	}
	cfg := c.Config
	if o.Device != "" {
		cfg.Device = o.Device
	}
	fam, err := o.Family(cfg)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", c.Path, err)
	}
	r, ok := fam.(model.Reconstructor)
	if !ok {
		return fmt.Errorf("--recon: checkpoint %s is of model.type %s, which does not reconstruct images (vae does)", c.Path, c.Family)
	}
	test, err := data.Load(cfg.Data.Name, cfg.Data.Dir, false)
	if err != nil {
		return fmt.Errorf("--recon: the test set: %w", err)
	}
	if n < 1 || n > test.N {
		return fmt.Errorf("--recon %d: want 1 to %d, the test set's images", n, test.N)
	}
	dim := test.C * test.H * test.W
	x := make([]float32, 2*n*dim)
	test.Images(x, 0, n)
	y, err := r.Reconstruct(c.Weights, x[:n*dim], n, model.SampleOptions{Device: cfg.Device, GPU: cfg.GPU, EMA: !o.NoEMA, Sample: cfg.Sample})
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", c.Path, err)
	}
	copy(x[n*dim:], y)
	return grid.WritePNG(o.Out, x, 2*n, test.C, test.H, test.W, n)
}
