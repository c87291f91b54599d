package vae

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/device"
	"github.com/scoregen/scoregen/model"
	"github.com/scoregen/scoregen/nn"
	"github.com/scoregen/scoregen/sde"
)

// sampler decodes z ~ N(0, I) in batches.
type sampler struct {
	f     *Family
	plans *device.Plans
	z     *gorgonia.Node
	out   *gorgonia.Node
	seed  uint64
	zBuf  []float32
	oBuf  []float32
}

// NewSampler compiles the decoder for batches of batch images with the
// weights w (their average with o.EMA, where kept: model.Weights.Param). Image i decodes z_i = elements
// i*latent .. (i+1)*latent-1 of sde.Normals(sample.seed, StreamPrior,
// draw 0), so it depends on sample.seed and i alone. Its pixels are the
// decoder's mean, in [-1, 1].
func (f *Family) NewSampler(w model.Weights, batch int, o model.SampleOptions) (model.Sampler, error) {
	if batch < 1 {
		return nil, fmt.Errorf("vae: sampler batch of %d images: want at least 1", batch)
	}
	g := gorgonia.NewGraph()
	b := nn.NewBuilder(g, 0, false)
	z := gorgonia.NewTensor(g, tensor.Float32, 2, gorgonia.WithShape(batch, f.cfg.Latent), gorgonia.WithName("z"))
	out, err := f.decode(b, z)
	if err != nil {
		return nil, err
	}
	plans, err := compileWith(w, b.Params, o, true, gorgonia.Nodes{out})
	if err != nil {
		return nil, err
	}
	return &sampler{f: f, plans: plans, z: z, out: out, seed: o.Sample.Seed,
		zBuf: make([]float32, batch*f.cfg.Latent), oBuf: make([]float32, out.Shape().TotalSize())}, nil
}

// compileWith compiles outputs on o's device (batch-invariant for images
// that must not depend on their batch) and writes the checkpoint's weights
// (or their averages) into params.
func compileWith(w model.Weights, params []*gorgonia.Node, o model.SampleOptions, invariant bool, outputs ...gorgonia.Nodes) (*device.Plans, error) {
	plans, err := device.Compile(o.Device, device.Options{GPU: o.GPU, BatchInvariant: invariant}, outputs...)
	if err != nil {
		return nil, err
	}
	if err := w.Load(plans.Plans[0], params, o.EMA); err != nil {
		plans.Close()
		return nil, fmt.Errorf("vae: %w", err)
	}
	return plans, nil
}

func (s *sampler) Batch() int { return s.z.Shape()[0] }

func (s *sampler) SampleAt(first int, x []float32, _ func(int)) error {
	batch, latent, d := s.Batch(), s.f.cfg.Latent, s.f.c*s.f.h*s.f.w
	if len(x) != batch*d {
		return fmt.Errorf("vae: sampler of %d images wants %d values, got %d", batch, batch*d, len(x))
	}
	off, err := sde.NoiseOffset(first, batch, latent)
	if err != nil {
		return err
	}
	sde.Normals(s.zBuf, s.seed, StreamPrior, 0, off)
	p := s.plans.Plans[0]
	if err := p.Write(s.z, s.zBuf); err != nil {
		return err
	}
	if err := p.Run(); err != nil {
		return err
	}
	if err := p.Read(s.out, s.oBuf); err != nil {
		return err
	}
	s.f.means(x, s.oBuf, batch)
	return nil
}

func (s *sampler) Close() { s.plans.Close() }

// means writes the decoder's mean images (in [-1, 1]) for its output out
// of n images: 2 sigmoid(l) - 1 = tanh(l/2) for Bernoulli logits l, the
// logistic's mean clipped to [-1, 1].
func (f *Family) means(x, out []float32, n int) {
	d := f.c * f.h * f.w
	for i := range n {
		xi, oi := x[i*d:(i+1)*d], out[i*f.outChannels()*f.h*f.w:]
		for j := range xi {
			if f.cfg.Decoder == Logistic {
				xi[j] = min(max(oi[j], -1), 1) // the mean is the first C channels
			} else {
				xi[j] = float32(math.Tanh(float64(oi[j]) / 2))
			}
		}
	}
}

// Reconstruct returns the reconstructions of the n images x (NCHW, in [-1,
// 1]) with the weights w (the averages with o.EMA): each is decoded from
// the mean of q(z|x), and its pixels are the decoder's mean, so that the
// result is deterministic. cmd/sample --recon shows them beside the
// images.
func (f *Family) Reconstruct(w model.Weights, x []float32, n int, o model.SampleOptions) ([]float32, error) {
	d := f.c * f.h * f.w
	if n < 1 || len(x) != n*d {
		return nil, fmt.Errorf("vae: %d images of %dx%dx%d are %d values, got %d", n, f.c, f.h, f.w, n*d, len(x))
	}
	g := gorgonia.NewGraph()
	b := nn.NewBuilder(g, 0, false)
	xn := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(n, f.c, f.h, f.w), gorgonia.WithName("x"))
	mu, _, err := f.encode(b, xn)
	if err != nil {
		return nil, err
	}
	out, err := f.decode(b, mu)
	if err != nil {
		return nil, err
	}
	plans, err := compileWith(w, b.Params, o, true, gorgonia.Nodes{out})
	if err != nil {
		return nil, err
	}
	defer plans.Close()
	p := plans.Plans[0]
	if err := p.Write(xn, x); err != nil {
		return nil, err
	}
	if err := p.Run(); err != nil {
		return nil, err
	}
	buf := make([]float32, out.Shape().TotalSize())
	if err := p.Read(out, buf); err != nil {
		return nil, err
	}
	rec := make([]float32, n*d)
	f.means(rec, buf, n)
	return rec, nil
}
