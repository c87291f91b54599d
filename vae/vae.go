// Package vae is a convolutional variational autoencoder family (Kingma &
// Welling 2014): its network, its negative-ELBO training loss, its sampler
// (the decoder on z ~ N(0, I)) and its test-set bounds (the ELBO and the
// importance-weighted bound of Burda et al. 2016).
//
// The encoder is two stride-2 3x3 convolutions (ch and 2 ch wide: 28 -> 14
// -> 7, or 32 -> 16 -> 8) and two dense layers (8 ch wide) to the mean and
// log-variance of q(z|x). The decoder is two dense layers to a [ch, H/4,
// W/4] map, nearest upsampling, two 3x3 convolutions (ch, then ch/4 wide),
// upsampling, and a 3x3 convolution to the likelihood's parameters per
// pixel: Bernoulli logits of binarised pixels (vae.decoder: bernoulli) or
// the mean and log-scale of a discretised logistic per 8-bit subpixel
// (logistic). The last convolution runs at full resolution, where its
// im2col dominates a CPU step: narrowing its input to ch/4 channels made
// the MNIST step twice as fast (BenchmarkTrainStep, 2 cores).
package vae

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/data"
	"github.com/scoregen/scoregen/nn"
	"github.com/scoregen/scoregen/optim"
)

// Philox streams of the family's random draws, apart from nn's dropout
// streams (1, 2, ...) and sde's (0x5DE0000x).
const (
	StreamEps       uint32 = 0x7AE00001 // training: eps of z = mu + sigma eps
	StreamBinarize  uint32 = 0x7AE00002 // training and evaluation: the binarised pixels
	StreamPrior     uint32 = 0x7AE00003 // sampler: z ~ N(0, I)
	StreamPosterior uint32 = 0x7AE00004 // evaluation: the K samples of q(z|x) per image
)

// Decoders are the likelihoods p(x|z) of vae.decoder.
const (
	Bernoulli = "bernoulli"
	Logistic  = "logistic"
)

// Family is the VAE of an experiment; it implements model.Family and
// model.Evaluator.
type Family struct {
	cfg     configs.VAE
	c, h, w int
	opt     optim.Settings
}

// New returns the family of cfg, which it validates (cfg.Validate: a
// config built in code has not been through configs.Load), refusing also
// the Bernoulli decoder for colour images.
func New(cfg *configs.Config) (*Family, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	f := &Family{cfg: cfg.VAE}
	var err error
	if f.c, f.h, f.w, err = data.ImageShape(cfg.Data.Name); err != nil {
		return nil, err
	}
	if cfg.VAE.Decoder == Bernoulli && f.c != 1 {
		return nil, fmt.Errorf("vae.decoder = %s with data.name = %s: want %s for colour images (bernoulli binarises grey-level ones, as for MNIST)",
			Bernoulli, cfg.Data.Name, Logistic)
	}
	f.opt = optim.FromTrain(cfg.Train)
	return f, nil
}

// Type is "vae".
func (f *Family) Type() string { return "vae" }

// ImageShape is 1x28x28 for MNIST and Fashion-MNIST, 3x32x32 for CIFAR-10.
func (f *Family) ImageShape() (c, h, w int) { return f.c, f.h, f.w }

// hidden is the width of the dense layers between the convolutions and z.
func (f *Family) hidden() int { return 8 * f.cfg.Ch }

// outChannels is what the decoder gives per pixel: a logit per channel, or
// a logistic's mean and log-scale per channel.
func (f *Family) outChannels() int {
	if f.cfg.Decoder == Logistic {
		return 2 * f.c
	}
	return f.c
}

// encode is q(z|x): the mean and log-variance of z, each [B, latent], of
// the images x [B, C, H, W].
func (f *Family) encode(b *nn.Builder, x *gorgonia.Node) (mu, logvar *gorgonia.Node, err error) {
	ch, batch := f.cfg.Ch, x.Shape()[0]
	h := b.Act("enc.act1", b.Conv2d("enc.conv1", x, ch, 3, 2, 1, 1), nn.ReLU)
	h = b.Act("enc.act2", b.Conv2d("enc.conv2", h, 2*ch, 3, 2, 1, 1), nn.ReLU)
	h = b.Reshape("enc.flatten", h, tensor.Shape{batch, 2 * ch * (f.h / 4) * (f.w / 4)})
	h = b.Act("enc.act3", b.Linear("enc.fc", h, f.hidden()), nn.ReLU)
	out := b.Linear("enc.out", h, 2*f.cfg.Latent)
	if err := b.Err(); err != nil {
		return nil, nil, err
	}
	if mu, err = nn.Split(out, 0, f.cfg.Latent); err != nil {
		return nil, nil, err
	}
	logvar, err = nn.Split(out, f.cfg.Latent, 2*f.cfg.Latent)
	return mu, logvar, err
}

// decode is p(x|z)'s parameters [B, outChannels, H, W] for z [B, latent].
func (f *Family) decode(b *nn.Builder, z *gorgonia.Node) (*gorgonia.Node, error) {
	ch, batch := f.cfg.Ch, z.Shape()[0]
	h := b.Act("dec.act1", b.Linear("dec.fc", z, f.hidden()), nn.ReLU)
	h = b.Act("dec.act2", b.Linear("dec.fc2", h, ch*(f.h/4)*(f.w/4)), nn.ReLU)
	h = b.Reshape("dec.unflatten", h, tensor.Shape{batch, ch, f.h / 4, f.w / 4})
	h = b.Act("dec.act3", b.Conv2d("dec.conv1", b.Upsample2x("dec.up1", h), ch, 3, 1, 1, 1), nn.ReLU)
	h = b.Act("dec.act4", b.Conv2d("dec.conv2", h, max(1, ch/4), 3, 1, 1, 1), nn.ReLU)
	out := b.Conv2d("dec.out", b.Upsample2x("dec.up2", h), f.outChannels(), 3, 1, 1, 1)
	return out, b.Err()
}
