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
	if err := f.continuous(); err != nil {
		return nil, fmt.Errorf("inpainting needs a continuous SDE: %w", err)
	}
	c := o.Sample
	correctors, ok := map[string]int{"em": 0, "pc": 1}[c.Sampler]
	if !ok {
		return nil, fmt.Errorf("inpainting runs the em or pc sampler (score_sde's), not %q", c.Sampler)
	}
	d := f.Net.Channels * f.Net.Height * f.Net.Width
	if n < 1 || len(x) != n*d || len(mask) != n*d {
		return nil, fmt.Errorf("inpainting %d images with %d values and a mask of %d, want %d each", n, len(x), len(mask), n*d)
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
	if err := sde.Inpaint(f.SDE, m.Score, out, n, c.Steps, correctors, c.SNR, c.Eps, c.Seed, 0, sde.Known{Data: x, Mask: mask}, nil); err != nil {
		return nil, err
	}
	for j, v := range out {
		out[j] = min(max(v, -1), 1)
	}
	return out, nil
}
