// Package model is the contract between a model family (the score network
// of package score, the VAE of package vae, the GANs of package gan, the
// judge classifier of package classify) and the code that trains and
// samples any of them (packages train and sample).
//
// A family builds one gorgonia graph per batch size holding all of its
// parameters, the clean data batch as an input, and one loss per optimiser
// update; it names its parameter groups and the order of its updates. The
// trainer owns everything the families share: the data stream, one
// optimiser per group, the EMA, metrics, checkpoints and resume. A family
// also turns a checkpoint's weights into a Sampler.
package model

import (
	"fmt"

	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/data"
	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/nn"
	"github.com/scoregen/scoregen/optim"
)

// Family is one model family configured by an experiment.
type Family interface {
	// Type is the family's model.type: "unet", "vae", "gan" or "classifier".
	Type() string
	// ImageShape is the channels, height and width of the images the
	// family is configured for.
	ImageShape() (c, h, w int)
	// TrainGraph builds the training graph for batches of batch images,
	// with parameters initialised from seed.
	TrainGraph(batch int, seed uint64) (*TrainGraph, error)
	// NewSampler compiles the family's sampler for batches of batch images
	// with the weights w (a checkpoint's); a family that generates nothing
	// (the classifier) returns an error saying so.
	NewSampler(w Weights, batch int, o SampleOptions) (Sampler, error)
}

// TrainGraph is one training step of a family: a graph whose input X is the
// clean batch (NCHW, in [-1, 1]), parameter groups, and the updates a step
// makes, in order.
type TrainGraph struct {
	G *gorgonia.ExprGraph
	// X is the clean batch; the trainer writes a new one before each
	// update whose Data is set.
	X *gorgonia.Node
	// Labels, when set, is a float32 input of shape [N, classes] that the
	// trainer fills with the batch's labels, one-hot (row i is 1 in the
	// column of image i's class, 0 elsewhere), beside X before each update
	// whose Data is set (a classifier's targets). The data set must have a
	// label below classes for every image. Families that read no labels
	// leave it nil.
	Labels *gorgonia.Node
	// RNG keys the graph's random ops (noise, dropout, binarisation). The
	// trainer sets RNG.Step before each update to a number that no other
	// update of the run gets: the step for a family of one update per step.
	RNG     *nn.RNG
	Groups  []Group
	Updates []Update
	// State are tensors that are not trained but change with training and
	// are kept in checkpoints (BatchNorm's running statistics, consistency
	// training's target network): after each run of update U's plan and
	// its optimiser step, the trainer moves State[i].Value towards
	// State[i].Batch, as an EMA with decay 1 - State[i].MomentumAt(step).
	State []State
	// Schedules are scalar inputs that the trainer sets before each update
	// from the step (a VAE's KL warm-up weight).
	Schedules []Schedule
	// Prepare, when set, fills inputs of the plans from the clean batch
	// itself instead of the trainer writing X (the score family's noising,
	// which on the GPU is a fused kernel: see train's gpu step).
	Prepare Preparer
}

// Schedule is a scalar input whose value is a function of the step (the
// number of steps done before this one).
type Schedule struct {
	Node  *gorgonia.Node
	Value func(step int) float32
}

// Preparer computes a step's inputs on the host from the clean batch x0,
// with randomness keyed by key (the RNG.Step of the update); input gives
// the memory of an input node of the plan.
type Preparer interface {
	PrepareHost(x0 []float32, key uint64, input func(*gorgonia.Node) []float32)
}

// Group is parameters that one optimiser updates, and its settings.
type Group struct {
	// Name prefixes nothing: parameter names are unique across groups
	// ("g.fc.weight", "d.conv1.weight"). It names the group in logs and
	// in checkpoints' metadata.
	Name   string
	Params []*gorgonia.Node
	Optim  optim.Settings
}

// Update is one optimiser update: a plan that computes Loss and its
// gradient with respect to the parameters of Groups[Group], then the
// group's optimiser step.
type Update struct {
	// Name prefixes the update's entries in the metrics ("d.loss"); a
	// family of one update leaves it empty ("loss").
	Name  string
	Group int
	Loss  *gorgonia.Node // a scalar, minimised
	// Repeat is how many times the update runs per step (a WGAN critic's
	// n_critic); 0 means once.
	Repeat int
	// Data says the update reads X: each run gets the next batch.
	Data bool
	// Metrics are scalars of the same plan reported beside the loss
	// ("kl", "recon").
	Metrics []Metric
}

// Metric is a scalar node reported under Name.
type Metric struct {
	Name string
	Node *gorgonia.Node
}

// State is a non-trained tensor of the graph (an input) and what it
// follows: a batch statistic computed by an update's plan, or a parameter
// of the update's group, followed as the optimiser step left it.
type State struct {
	Value    *gorgonia.Node // an input of the graph, kept in checkpoints under its name
	Batch    *gorgonia.Node // computed by Updates[Update]'s plan, or one of its group's parameters; same shape
	Update   int
	Momentum float64 // Value = (1-Momentum) Value + Momentum Batch, as torch's BatchNorm
	// Schedule, when set, is the momentum after a run at each step (the
	// steps done before it) in place of Momentum: consistency training's
	// target network follows the weights with 1 - mu(k).
	Schedule func(step int) float64
}

// MomentumAt is the momentum of the run at step: Schedule's, or Momentum.
func (s State) MomentumAt(step int) float64 {
	if s.Schedule != nil {
		return s.Schedule(step)
	}
	return s.Momentum
}

// SamplingChecker is implemented by families that can tell, before
// allocating anything, whether a sampler of batch images fits the memory
// of device; the error names batchKey (the caller's flag or key for the
// batch size) or what else to lower.
type SamplingChecker interface {
	CheckSampling(batch int, device, batchKey string) error
}

// Reconstructor is implemented by families that encode and decode (the
// VAE): Reconstruct returns the reconstructions of the n images in x (NCHW
// in [-1, 1]), in [-1, 1], with the weights w.
type Reconstructor interface {
	Reconstruct(w Weights, x []float32, n int, o SampleOptions) ([]float32, error)
}

// Interpolator is implemented by families with an invertible encoding (the
// score network's probability-flow ODE): Interpolate returns, for each of
// the n pairs of images a[i], b[i] (NCHW in [-1, 1]), points images decoded
// from evenly spaced interpolations of the pair's codes, the ends
// reconstructing the pair.
type Interpolator interface {
	Interpolate(w Weights, a, b []float32, n, points int, o SampleOptions) ([]float32, error)
}

// Colorizer is implemented by families that colour gray images (the
// score network of colour images): Colorize returns n images (NCHW in
// [-1, 1]) whose every pixel has the channel mean of that pixel of gray
// (the same shape; only the means are read), the colours generated.
type Colorizer interface {
	Colorize(w Weights, gray []float32, n int, o SampleOptions) ([]float32, error)
}

// Inpainter is implemented by families that fill in the unknown values of
// images (the score network): Inpaint returns the n images x (NCHW in
// [-1, 1]) with the values where mask is 0 generated and those where it is
// 1 kept.
type Inpainter interface {
	Inpaint(w Weights, x, mask []float32, n int, o SampleOptions) ([]float32, error)
}

// Evaluator is implemented by families that score held-out data quickly
// enough to do it at the end of every training run (the VAE's negative
// ELBO and importance-weighted bound, the classifier's accuracy).
type Evaluator interface {
	// Evaluate scores test's images with the weights w and returns named
	// figures ("nelbo_nats", "iwae_nats", "bits_per_dim").
	Evaluate(w Weights, test *data.Dataset, o SampleOptions) (map[string]float64, error)
}

// LikelihoodScorer is implemented by families whose test-set likelihood
// is too costly for the end of training and is asked for on its own
// (cmd/eval --bpd): the score network's, by the probability-flow ODE,
// hours for a whole test set on a CPU.
type LikelihoodScorer interface {
	// Likelihood scores test's images with the weights w and returns
	// named figures, "bits_per_dim" among them.
	Likelihood(w Weights, test *data.Dataset, o SampleOptions) (map[string]float64, error)
}

// Weights are a checkpoint's tensors by name: a parameter's own name holds
// its weights, "ema." + name its average, and state tensors their names.
type Weights func(name string) ([]float32, bool)

// Param is what to load into the parameter name, and the tensor it came
// from: with ema its moving average where the checkpoint keeps one (a run
// with train.ema 0 keeps none), else its weights.
func (w Weights) Param(name string, ema bool) (v []float32, from string, ok bool) {
	if ema {
		if v, ok := w("ema." + name); ok {
			return v, "ema." + name, true
		}
	}
	v, ok = w(name)
	return v, name, ok
}

// Load writes into plan, for each of nodes, the tensor of its name (with
// ema its moving average where kept: Param), as a sampler or evaluator
// loads a checkpoint into the plan it compiled. A missing tensor is an
// error naming it.
func (w Weights) Load(plan *engine.Plan, nodes []*gorgonia.Node, ema bool) error {
	for _, n := range nodes {
		v, name, ok := w.Param(n.Name(), ema)
		if !ok {
			return fmt.Errorf("the weights have no tensor %s (is this a checkpoint of this model?)", name)
		}
		if err := plan.Write(n, v); err != nil {
			return fmt.Errorf("tensor %s: %w", name, err)
		}
	}
	return nil
}

// SampleOptions are how a sampler runs.
type SampleOptions struct {
	Device string // "cpu" or "cuda"
	GPU    configs.GPU
	// EMA samples with the parameters' moving average where the family
	// keeps one (the default in cmd/sample), else the raw weights.
	EMA    bool
	Sample configs.Sample
}

// Sampler draws images in batches of a fixed size.
type Sampler interface {
	// Batch is the number of images of one call.
	Batch() int
	// SampleAt overwrites x (Batch images, NCHW, in [-1, 1]) with images
	// first .. first+Batch-1 of a run: image i's randomness depends only on
	// sample.seed and i, so a run cut into batches or shards draws the
	// same images. progress, when not nil, is called after each step of a
	// many-step sampler.
	SampleAt(first int, x []float32, progress func(step int)) error
	Close()
}
