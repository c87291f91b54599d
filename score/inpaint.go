package score

import (
	"fmt"

	"github.com/scoregen/scoregen/model"
	"github.com/scoregen/scoregen/sde"
)

// Inpaint fills in the values of the n images x (NCHW in [-1, 1]) where
// mask (the same size) is 0, keeping those where it is 1, by the em or pc
// sampler of o.Sample with score_sde's replacement of the known values
// (sde.Inpaint). It is model.Inpainter.
func (f *Family) Inpaint(w model.Weights, x, mask []float32, n int, o model.SampleOptions) ([]float32, error) {
	if len(mask) != len(x) {
		return nil, fmt.Errorf("inpainting %d values with a mask of %d", len(x), len(mask))
	}
	return f.replaceKnown("inpainting", w, x, n, o, func(m *ScoreModel, out []float32, correctors int) error {
		c := o.Sample
		return sde.Inpaint(f.SDE, m.Score, out, n, c.Steps, correctors, c.SNR, c.Eps, c.Seed, 0, sde.Known{Data: x, Mask: mask}, nil)
	})
}

// Colorize gives the n images gray (NCHW in [-1, 1], of the model's
// channels; only each pixel's mean over them is read) colours, keeping
// that mean, by the em or pc sampler of o.Sample with score_sde's
// colorizer (sde.Colorize). It is model.Colorizer.
func (f *Family) Colorize(w model.Weights, gray []float32, n int, o model.SampleOptions) ([]float32, error) {
	if f.Net.Channels < 2 {
		return nil, fmt.Errorf("colorisation needs colour images; %s has %d channel", f.Net.Name, f.Net.Channels)
	}
	return f.replaceKnown("colorising", w, gray, n, o, func(m *ScoreModel, out []float32, correctors int) error {
		c := o.Sample
		return sde.Colorize(f.SDE, m.Score, out, n, f.Net.Channels, c.Steps, correctors, c.SNR, c.Eps, c.Seed, 0, gray, nil)
	})
}

// replaceKnown is Inpaint's and Colorize's frame: it checks the model and
// the n images x, loads the sampler, and clips to [-1, 1] what run (the
// sde's sampler, with correctors Langevin steps per step: 0 for em, 1 for
// pc) writes into out.
func (f *Family) replaceKnown(what string, w model.Weights, x []float32, n int, o model.SampleOptions, run func(m *ScoreModel, out []float32, correctors int) error) ([]float32, error) {
	if err := f.continuous(); err != nil {
		return nil, fmt.Errorf("%s needs a continuous SDE: %w", what, err)
	}
	correctors, ok := map[string]int{"em": 0, "pc": 1}[o.Sample.Sampler]
	if !ok {
		return nil, fmt.Errorf("%s runs the em or pc sampler (score_sde's), not %q", what, o.Sample.Sampler)
	}
	d := f.Net.Channels * f.Net.Height * f.Net.Width
	if n < 1 || len(x) != n*d {
		return nil, fmt.Errorf("%s %d images with %d values, want %d", what, n, len(x), n*d)
	}
	s, err := f.NewSampler(w, n, o)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	m := s.(*ScoreModel)
	if err := m.setLabels(0); err != nil { // sample.class and sample.guidance, as SampleAt's
		return nil, err
	}
	out := make([]float32, len(x))
	if err := run(m, out, correctors); err != nil {
		return nil, err
	}
	for j, v := range out {
		out[j] = min(max(v, -1), 1)
	}
	return out, nil
}
