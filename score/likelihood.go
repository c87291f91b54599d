package score

import (
	"fmt"
	"log/slog"
	"math"
	"time"

	"gonum.org/v1/gonum/stat"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/data"
	"github.com/scoregen/scoregen/device"
	"github.com/scoregen/scoregen/model"
	"github.com/scoregen/scoregen/nn"
	"github.com/scoregen/scoregen/sde"
	"github.com/scoregen/scoregen/unet"
)

// LikelihoodSeed keys the likelihood's randomness, so that every checkpoint
// is scored on the same dequantised images with the same probes: image i's
// uniform noise is its elements of sde.Dequantize under this seed, and its
// Hutchinson probe that of sample i of sde.Probes.
const LikelihoodSeed uint64 = 0x11CE

// LikelihoodBatch is the images integrated together. Each takes its own
// RK45 steps, so the batch sets the speed, not the figures.
const LikelihoodBatch = 64

// divergence is the network compiled for the likelihood: its output and
// the vector-Jacobian product grad_x(probe . output), from which
// Hutchinson's quadratic form of the score's Jacobian follows.
type divergence struct {
	net        *unet.Net
	probe, vjp *gorgonia.Node
	plans      *device.Plans
	sde        sde.SDE
	dim        int
	vjpBuf     []float32
}

func (f *Family) newDivergence(w model.Weights, batch int, o model.SampleOptions) (*divergence, error) {
	g := gorgonia.NewGraph()
	net, err := unet.Build(g, f.Net, batch, false, 0)
	if err != nil {
		return nil, err
	}
	probe := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(net.X.Shape()...), gorgonia.WithName("probe"))
	dot, err := nn.Binary(nn.Mul, net.Out, probe)
	if err != nil {
		return nil, err
	}
	if dot, err = nn.Sum(dot); err != nil {
		return nil, err
	}
	grads, err := gorgonia.Grad(dot, net.X)
	if err != nil {
		return nil, fmt.Errorf("the network's vector-Jacobian product: %w", err)
	}
	plans, err := device.Compile(o.Device, device.Options{GPU: o.GPU, BatchInvariant: true}, gorgonia.Nodes{net.Out, grads[0]})
	if err != nil {
		return nil, err
	}
	if err := w.Load(plans.Plans[0], net.Params, o.EMA); err != nil {
		plans.Close()
		return nil, err
	}
	if net.Labels != nil {
		// A class-conditional network's likelihood is its unconditional
		// one: "no label" for every image (the labels stay zero).
		ones := make([]float32, batch)
		for i := range ones {
			ones[i] = 1
		}
		if err := plans.Plans[0].Write(net.Null, ones); err != nil {
			plans.Close()
			return nil, err
		}
	}
	d := f.Net.Channels * f.Net.Height * f.Net.Width
	return &divergence{net: net, probe: probe, vjp: grads[0], plans: plans, sde: f.SDE, dim: d, vjpBuf: make([]float32, batch*d)}, nil
}

// scoreDiv is an sde.ScoreDivFunc. The network predicts eps_hat = -std(t)
// s(x, t), so s = -eps_hat / std and
// probe^T (ds/dx) probe = -probe . grad_x(probe . eps_hat) / std.
func (m *divergence) scoreDiv(x, t, probe, score []float32, quad []float64) error {
	p := m.plans.Plans[0]
	for _, in := range []struct {
		n *gorgonia.Node
		v []float32
	}{{m.net.X, x}, {m.net.T, t}, {m.probe, probe}} {
		if err := p.Write(in.n, in.v); err != nil {
			return err
		}
	}
	if err := p.Run(); err != nil {
		return err
	}
	if err := p.Read(m.net.Out, score); err != nil {
		return err
	}
	if err := p.Read(m.vjp, m.vjpBuf); err != nil {
		return err
	}
	d := m.dim
	for i := range t {
		inv := -1 / m.sde.Std(float64(t[i]))
		var pj float64
		for j := i * d; j < (i+1)*d; j++ {
			score[j] = float32(inv * float64(score[j]))
			pj += float64(probe[j]) * float64(m.vjpBuf[j])
		}
		quad[i] = inv * pj
	}
	return nil
}

// Likelihood is the model's likelihood of the test images with the weights w
// (their averages with o.EMA), as score_sde's likelihood evaluation: each
// image uniformly dequantised (sde.Dequantize), its log-density at t =
// sde.eps (the training's, score_sde's 1e-5) by the probability-flow ODE
// with one Rademacher probe (sde.Likelihood; RK45 with sample.rtol and
// sample.atol), and bits/dim = -log p / (D ln 2) + 7, the density of the
// 256 levels of each pixel. The figures: "bits_per_dim" and its standard
// error over the images "bits_per_dim_se" (left out for one image),
// "nll_nats", the same bound in nats per image, "evaluations_per_batch" (the mean number of
// network evaluations, each a forward and a backward pass over a batch of
// LikelihoodBatch images) and "seconds_per_image". It logs its progress
// after each batch. It is model.LikelihoodScorer, not model.Evaluator:
// the whole MNIST test set takes hours on a CPU, too long for the end of
// every training run.
func (f *Family) Likelihood(w model.Weights, test *data.Dataset, o model.SampleOptions) (map[string]float64, error) {
	if err := f.continuous(); err != nil {
		return nil, fmt.Errorf("the likelihood needs a continuous SDE: %w", err)
	}
	if test.C != f.Net.Channels || test.H != f.Net.Height || test.W != f.Net.Width {
		return nil, fmt.Errorf("test set %s has %dx%dx%d images, the model %dx%dx%d", test.Name, test.C, test.H, test.W, f.Net.Channels, f.Net.Height, f.Net.Width)
	}
	if test.N < 1 {
		return nil, fmt.Errorf("test set %s is empty", test.Name)
	}
	start := time.Now()
	bpd, evaluations, batches, err := f.likelihoods(w, test, 0, test.N, o)
	if err != nil {
		return nil, err
	}
	d := f.Net.Channels * f.Net.Height * f.Net.Width
	mean, sd := stat.MeanStdDev(bpd, nil)
	figures := map[string]float64{
		"bits_per_dim":          mean,
		"nll_nats":              mean * float64(d) * math.Ln2,
		"evaluations_per_batch": float64(evaluations) / float64(batches),
		"seconds_per_image":     time.Since(start).Seconds() / float64(test.N),
	}
	if test.N > 1 {
		figures["bits_per_dim_se"] = sd / math.Sqrt(float64(test.N))
	}
	return figures, nil
}

// likelihoods is the bits/dim of test images [from, to), in batches of up
// to LikelihoodBatch, each image's dequantisation and probe keyed by its
// index in the test set; with the network evaluations and the batches.
func (f *Family) likelihoods(w model.Weights, test *data.Dataset, from, to int, o model.SampleOptions) (bpd []float64, evaluations, batches int, err error) {
	batch, d := min(LikelihoodBatch, to-from), f.Net.Channels*f.Net.Height*f.Net.Width
	m, err := f.newDivergence(w, batch, o)
	if err != nil {
		return nil, 0, 0, err
	}
	defer m.plans.Close()
	tol := sde.Tolerances{RTol: o.Sample.RTol, ATol: o.Sample.ATol}
	x := make([]float32, batch*d)
	start := time.Now()
	for first := from; first < to; first += batch {
		// A last batch that runs past the end repeats the last image and
		// ignores it.
		for i := range batch {
			img := min(first+i, to-1)
			sde.Dequantize(x[i*d:(i+1)*d], test.Pixels[img*d:(img+1)*d], LikelihoodSeed, img*d)
		}
		logp, nfe, err := sde.Likelihood(f.SDE, m.scoreDiv, x, batch, f.cfg.SDE.Eps, tol, sde.Rademacher, LikelihoodSeed, first, nil)
		if err != nil {
			return nil, 0, 0, fmt.Errorf("images %d-%d: %w", first, first+batch-1, err)
		}
		evaluations, batches = evaluations+nfe, batches+1
		for i := range min(batch, to-first) {
			bpd = append(bpd, -logp[i]/(float64(d)*math.Ln2)+7)
		}
		slog.Info("likelihood", "images", fmt.Sprintf("%d of %d", len(bpd), to-from), "bits_per_dim", stat.Mean(bpd, nil),
			"evaluations", nfe, "elapsed", time.Since(start).Round(time.Second))
	}
	return bpd, evaluations, batches, nil
}
