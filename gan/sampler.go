package gan

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/device"
	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/internal/philox"
	"github.com/scoregen/scoregen/model"
	"github.com/scoregen/scoregen/nn"
	"github.com/scoregen/scoregen/sde"
)

// sampler runs the generator, BatchNorm with its running statistics, on
// z ~ N(0, I) drawn on the host: image i's z is elements i*latent ..
// (i+1)*latent-1 of philox.NewNormals(sample.seed, StreamSampler, 0), as
// the score family's samplers key their noise.
type sampler struct {
	plans     *device.Plans
	plan      *engine.Plan
	z, img    *gorgonia.Node
	zbuf      []float32
	batch     int
	latent    int
	imageSize int
	seed      uint64
}

// NewSampler compiles the generator for batches of batch images on
// o.Device with the weights w: each parameter's average when o.EMA (where
// the checkpoint keeps one: model.Weights.Param), the raw weights
// otherwise, and the BatchNorm running statistics under their own names.
// The statistics are the raw generator's, also under the averaged weights,
// as PyTorch users get them from ema-pytorch (which copies the buffers) or
// timm's ModelEmaV2 (which averages them with the weights): late in
// training the generator moves slowly enough that the two agree, and
// recomputing statistics under the average (BigGAN's "standing stats")
// would make sampling depend on a batch of its own. The plan is
// batch-invariant, so image i does not depend on the batch it is drawn in.
func (f *Family) NewSampler(w model.Weights, batch int, o model.SampleOptions) (model.Sampler, error) {
	if batch < 1 {
		return nil, fmt.Errorf("gan: sampler batch %d: want at least 1", batch)
	}
	g := gorgonia.NewGraph()
	l := &layers{Builder: nn.NewBuilder(g, 0, false)}
	z := gorgonia.NewTensor(g, tensor.Float32, 2, gorgonia.WithShape(batch, f.latent), gorgonia.WithName("z"))
	img := generator(l, z, f.c, f.h, f.ch, false)
	if err := l.firstErr(); err != nil {
		return nil, fmt.Errorf("gan: %w", err)
	}
	plans, err := device.Compile(o.Device, device.Options{GPU: o.GPU, BatchInvariant: true}, gorgonia.Nodes{img})
	if err != nil {
		return nil, fmt.Errorf("gan: compiling the generator: %w", err)
	}
	s := &sampler{plans: plans, plan: plans.Plans[0], z: z, img: img, zbuf: make([]float32, batch*f.latent),
		batch: batch, latent: f.latent, imageSize: f.c * f.h * f.w, seed: o.Sample.Seed}
	state := make([]*gorgonia.Node, len(l.state))
	for i, st := range l.state {
		state[i] = st.value
	}
	err = w.Load(s.plan, l.Params, o.EMA)
	if err == nil {
		err = w.Load(s.plan, state, false) // BatchNorm's statistics have no average
	}
	if err != nil {
		plans.Close()
		return nil, fmt.Errorf("gan: %w", err)
	}
	return s, nil
}

func (s *sampler) Batch() int { return s.batch }

// SampleAt draws images first .. first+Batch-1 into x. The generator is
// one step: progress, when set, is called once with 1.
func (s *sampler) SampleAt(first int, x []float32, progress func(step int)) error {
	if first < 0 {
		return fmt.Errorf("gan: first image %d: want >= 0", first)
	}
	if len(x) != s.batch*s.imageSize {
		return fmt.Errorf("gan: sample buffer of %d values, want %d (%d images of %d)", len(x), s.batch*s.imageSize, s.batch, s.imageSize)
	}
	if (first+s.batch)*s.latent > sde.MaxElements {
		return fmt.Errorf("gan: images up to %d need more than the %d normals of one sampler stream", first+s.batch, sde.MaxElements)
	}
	g := philox.NewNormals(s.seed, StreamSampler, 0)
	for j := range s.zbuf {
		s.zbuf[j] = float32(g.At(first*s.latent + j))
	}
	if err := s.plan.Write(s.z, s.zbuf); err != nil {
		return err
	}
	if err := s.plan.Run(); err != nil {
		return err
	}
	if err := s.plan.Read(s.img, x); err != nil {
		return err
	}
	if progress != nil {
		progress(1)
	}
	return nil
}

func (s *sampler) Close() { s.plans.Close() }
