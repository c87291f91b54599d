// Package classify is the judge network: a small CNN family (model.type
// classifier) that labels the images of a data set, trained by package
// train on the softmax cross-entropy, whose penultimate features and class
// probabilities (Judge) score other models' samples, in place of the
// Inception network that published FIDs use.
//
// The network is four 3x3 convolutions with ReLU (ch, ch with stride 2, 2
// ch, 2 ch with stride 2: MNIST's 28x28 -> 14x14 -> 7x7), a dense layer to
// classifier.features units with ReLU (the features), dropout while
// training, and a dense layer to the 10 logits.
package classify

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/data"
	"github.com/scoregen/scoregen/model"
	"github.com/scoregen/scoregen/nn"
	"github.com/scoregen/scoregen/optim"
)

// Classes is the number of classes of every data set here (MNIST,
// Fashion-MNIST, CIFAR-10).
const Classes = 10

// Family is the classifier of an experiment; it implements model.Family
// and model.Evaluator.
type Family struct {
	cfg     configs.Classifier
	c, h, w int
	opt     optim.Settings
}

// New returns the family of cfg, which it validates (a config built in
// code has not been through configs.Load).
func New(cfg *configs.Config) (*Family, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	f := &Family{cfg: cfg.Classifier, opt: optim.FromTrain(cfg.Train)}
	var err error
	if f.c, f.h, f.w, err = data.ImageShape(cfg.Data.Name); err != nil {
		return nil, err
	}
	return f, nil
}

// Type is "classifier".
func (f *Family) Type() string { return "classifier" }

// ImageShape is 1x28x28 for MNIST and Fashion-MNIST, 3x32x32 for CIFAR-10.
func (f *Family) ImageShape() (c, h, w int) { return f.c, f.h, f.w }

// net is the network on the images x [B, C, H, W]: the features [B,
// classifier.features] and the logits [B, Classes]. b.Train turns dropout
// on.
func (f *Family) net(b *nn.Builder, x *gorgonia.Node) (features, logits *gorgonia.Node, err error) {
	ch := f.cfg.Ch
	h := b.Act("act1", b.Conv2d("conv1", x, ch, 3, 1, 1, 1), nn.ReLU)
	h = b.Act("act2", b.Conv2d("conv2", h, ch, 3, 2, 1, 1), nn.ReLU)
	h = b.Act("act3", b.Conv2d("conv3", h, 2*ch, 3, 1, 1, 1), nn.ReLU)
	h = b.Act("act4", b.Conv2d("conv4", h, 2*ch, 3, 2, 1, 1), nn.ReLU)
	if err := b.Err(); err != nil {
		return nil, nil, err
	}
	s := h.Shape()
	h = b.Reshape("flatten", h, tensor.Shape{s[0], s[1] * s[2] * s[3]})
	features = b.Act("act5", b.Linear("fc", h, f.cfg.Features), nn.ReLU)
	logits = b.Linear("out", b.Dropout("drop", features, f.cfg.Dropout), Classes)
	return features, logits, b.Err()
}

// TrainGraph is one step of the softmax cross-entropy of the batch X
// against its one-hot Labels, with dropout on the features keyed by the
// step; the metric "accuracy" is the fraction of the batch classified
// right (before the update).
func (f *Family) TrainGraph(batch int, seed uint64) (*model.TrainGraph, error) {
	if batch < 1 {
		return nil, fmt.Errorf("classifier: batch of %d images: want at least 1", batch)
	}
	g := gorgonia.NewGraph()
	b := nn.NewBuilder(g, seed, true)
	x := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(batch, f.c, f.h, f.w), gorgonia.WithName("x"))
	labels := gorgonia.NewTensor(g, tensor.Float32, 2, gorgonia.WithShape(batch, Classes), gorgonia.WithName("labels"))
	_, logits, err := f.net(b, x)
	if err != nil {
		return nil, err
	}
	loss, err := nn.SoftmaxCrossEntropy(logits, labels)
	if err != nil {
		return nil, err
	}
	acc, err := nn.Accuracy(logits, labels)
	if err != nil {
		return nil, err
	}
	return &model.TrainGraph{
		G: g, X: x, Labels: labels, RNG: b.RNG,
		Groups:  []model.Group{{Name: "classifier", Params: b.Params, Optim: f.opt}},
		Updates: []model.Update{{Group: 0, Loss: loss, Data: true, Metrics: []model.Metric{{Name: "accuracy", Node: acc}}}},
	}, nil
}

// NewSampler refuses: a classifier does not generate images.
func (f *Family) NewSampler(model.Weights, int, model.SampleOptions) (model.Sampler, error) {
	return nil, fmt.Errorf("model.type classifier: a classifier does not generate images; it scores them (classify.OpenJudge)")
}
