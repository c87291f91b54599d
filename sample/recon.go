package sample

import (
	"fmt"
	"image/color"
	"image/png"
	"os"

	"github.com/scoregen/scoregen/ckpt"
	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/data"
	"github.com/scoregen/scoregen/grid"
	"github.com/scoregen/scoregen/model"
)

// fromTestSet is what Recon and Interpolate start from: the checkpoint of
// o.Ckpt, its config (on o.Device when given), its family and its test set
// (the checkpoint's data.name, from its data.dir). flag names the command's
// mode in errors.
func fromTestSet(o Options, flag string) (*ckpt.Checkpoint, *configs.Config, model.Family, *data.Dataset, error) {
	if o.Family == nil {
		return nil, nil, nil, nil, fmt.Errorf("sample: Options.Family is not set")
	}
	if o.Out == "" {
		return nil, nil, nil, nil, fmt.Errorf("%s: give --out for the grid", flag)
	}
	c, err := ckpt.Open(o.Ckpt)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	cfg := c.Config
	if o.Device != "" {
		cfg.Device = o.Device
	}
	fam, err := o.Family(cfg)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("checkpoint %s: %w", c.Path, err)
	}
	test, err := data.Load(cfg.Data.Name, cfg.Data.Dir, false)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("%s: the test set: %w", flag, err)
	}
	return c, cfg, fam, test, nil
}

// Recon writes a grid of the first n test images (top row) above their
// reconstructions (bottom row) by the checkpoint's model, which must be a
// model.Reconstructor (a VAE), to o.Out.
func Recon(o Options, n int) error {
	flag := fmt.Sprintf("--recon %d", n)
	c, cfg, fam, test, err := fromTestSet(o, flag)
	if err != nil {
		return err
	}
	r, ok := fam.(model.Reconstructor)
	if !ok {
		return fmt.Errorf("--recon: checkpoint %s is of model.type %s, which does not reconstruct images (vae does)", c.Path, c.Family)
	}
	if n < 1 || n > test.N {
		return fmt.Errorf("%s: want 1 to %d, the test set's images", flag, test.N)
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

// Interpolate writes a grid with a row per pair of test images (images
// 2i and 2i+1 for i < pairs): the first image, points images decoded from
// interpolations between the pair's codes (the score network's
// probability-flow ODE latents), and the second image, by the checkpoint's
// model, which must be a model.Interpolator, to o.Out. The sampler's
// settings (eps, rtol, atol) come from the checkpoint and o.
func Interpolate(o Options, pairs, points int) error {
	flag := fmt.Sprintf("--interpolate %d", pairs)
	c, cfg, fam, test, err := fromTestSet(o, flag)
	if err != nil {
		return err
	}
	in, ok := fam.(model.Interpolator)
	if !ok {
		return fmt.Errorf("--interpolate: checkpoint %s is of model.type %s, which does not encode images invertibly (unet does)", c.Path, c.Family)
	}
	if pairs < 1 || 2*pairs > test.N {
		return fmt.Errorf("%s: want 1 to %d pairs of the test set's images", flag, test.N/2)
	}
	if points < 2 {
		return fmt.Errorf("--points %d: want at least 2 (the two ends)", points)
	}
	sc, err := o.validSettings(cfg, c.Path)
	if err != nil {
		return err
	}
	dim := test.C * test.H * test.W
	a, b := make([]float32, pairs*dim), make([]float32, pairs*dim)
	for i := range pairs {
		test.Images(a[i*dim:(i+1)*dim], 2*i, 1)
		test.Images(b[i*dim:(i+1)*dim], 2*i+1, 1)
	}
	y, err := in.Interpolate(c.Weights, a, b, pairs, points, model.SampleOptions{Device: cfg.Device, GPU: cfg.GPU, EMA: !o.NoEMA, Sample: sc})
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", c.Path, err)
	}
	cols := points + 2
	x := make([]float32, pairs*cols*dim)
	for i := range pairs {
		row := x[i*cols*dim : (i+1)*cols*dim]
		copy(row, a[i*dim:(i+1)*dim])
		copy(row[dim:], y[i*points*dim:(i+1)*points*dim])
		copy(row[(cols-1)*dim:], b[i*dim:(i+1)*dim])
	}
	return grid.WritePNG(o.Out, x, pairs*cols, test.C, test.H, test.W, cols)
}

// Inpaint writes a grid of the first n test images (top row), the same
// with the pixels that the mask PNG at maskPath leaves unknown shown black
// (middle row), and the checkpoint's model's inpainting of them (bottom
// row) to o.Out. The mask is the images' height and width; a pixel is
// known where its grey level is at least half (white), in every channel.
// The model must be a model.Inpainter (a score network, with the em or pc
// sampler).
func Inpaint(o Options, maskPath string, n int) error {
	flag := "--inpaint " + maskPath
	c, cfg, fam, test, err := fromTestSet(o, flag)
	if err != nil {
		return err
	}
	in, ok := fam.(model.Inpainter)
	if !ok {
		return fmt.Errorf("--inpaint: checkpoint %s is of model.type %s, which does not inpaint (unet does)", c.Path, c.Family)
	}
	if n < 1 || n > test.N {
		return fmt.Errorf("--n %d: want 1 to %d test images to inpaint", n, test.N)
	}
	known, err := readMask(maskPath, test.H, test.W)
	if err != nil {
		return err
	}
	dim, hw := test.C*test.H*test.W, test.H*test.W
	x := make([]float32, 3*n*dim)
	test.Images(x, 0, n)
	mask := make([]float32, n*dim)
	for j := range mask {
		mask[j] = known[j%hw]
		x[n*dim+j] = x[j]*mask[j] - (1 - mask[j]) // unknown pixels black
	}
	sc, err := o.validSettings(cfg, c.Path)
	if err != nil {
		return err
	}
	y, err := in.Inpaint(c.Weights, x[:n*dim], mask, n, model.SampleOptions{Device: cfg.Device, GPU: cfg.GPU, EMA: !o.NoEMA, Sample: sc})
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", c.Path, err)
	}
	copy(x[2*n*dim:], y)
	return grid.WritePNG(o.Out, x, 3*n, test.C, test.H, test.W, n)
}

// Colorize writes a grid of the first n test images (top row), their gray
// versions (each pixel's channel mean in every channel, middle row) and
// the checkpoint's model's colorisation of the gray ones (bottom row) to
// o.Out. The model must be a model.Colorizer (a score network, with the em
// or pc sampler) of colour images.
func Colorize(o Options, n int) error {
	c, cfg, fam, test, err := fromTestSet(o, "--colorize")
	if err != nil {
		return err
	}
	col, ok := fam.(model.Colorizer)
	if !ok {
		return fmt.Errorf("--colorize: checkpoint %s is of model.type %s, which does not colorise (unet does)", c.Path, c.Family)
	}
	if test.C < 2 {
		return fmt.Errorf("--colorize: checkpoint %s models %s, whose images are gray; colorisation needs colour (cifar10)", c.Path, test.Name)
	}
	if n < 1 || n > test.N {
		return fmt.Errorf("--n %d: want 1 to %d test images to colorise", n, test.N)
	}
	dim, hw := test.C*test.H*test.W, test.H*test.W
	x := make([]float32, 3*n*dim)
	test.Images(x, 0, n)
	gray := x[n*dim : 2*n*dim]
	for i := range n {
		for p := range hw {
			var m float32
			for k := range test.C {
				m += x[i*dim+k*hw+p]
			}
			for k := range test.C {
				gray[i*dim+k*hw+p] = m / float32(test.C)
			}
		}
	}
	sc, err := o.validSettings(cfg, c.Path)
	if err != nil {
		return err
	}
	y, err := col.Colorize(c.Weights, gray, n, model.SampleOptions{Device: cfg.Device, GPU: cfg.GPU, EMA: !o.NoEMA, Sample: sc})
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", c.Path, err)
	}
	copy(x[2*n*dim:], y)
	return grid.WritePNG(o.Out, x, 3*n, test.C, test.H, test.W, n)
}

// readMask reads an inpainting mask: a PNG of h x w pixels, 1 where the
// grey level is at least half and 0 elsewhere, row by row.
func readMask(path string, h, w int) ([]float32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--inpaint: %w", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("--inpaint %s: not a PNG: %w", path, err)
	}
	b := img.Bounds()
	if b.Dx() != w || b.Dy() != h {
		return nil, fmt.Errorf("--inpaint %s: a %dx%d mask, want the images' %dx%d (width x height)", path, b.Dx(), b.Dy(), w, h)
	}
	mask := make([]float32, h*w)
	for y := range h {
		for x := range w {
			if g := color.GrayModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.Gray); g.Y >= 128 {
				mask[y*w+x] = 1
			}
		}
	}
	return mask, nil
}

// validSettings is o.settings, checked as the config's sample section.
func (o Options) validSettings(cfg *configs.Config, path string) (configs.Sample, error) {
	sc, err := o.settings(cfg, path)
	if err != nil {
		return sc, err
	}
	c := *cfg
	c.Sample = sc
	if err := c.Validate(); err != nil {
		return sc, fmt.Errorf("flags: %w", err)
	}
	return sc, nil
}
