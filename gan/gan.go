// Package gan is the family of DCGAN-style generative adversarial networks
// (model.type: gan): a convolutional generator and discriminator (a critic
// for WGAN-GP), their three losses (minimax, non-saturating and WGAN-GP),
// the training graph the trainer runs as two alternating updates, and the
// sampler that runs the generator on z ~ N(0, I).
package gan

import (
	"fmt"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/data"
	"github.com/scoregen/scoregen/optim"
)

// The losses of gan.loss.
const (
	Minimax       = "minimax"       // Goodfellow et al. 2014: G minimises log(1 - D(G(z)))
	NonSaturating = "nonsaturating" // G maximises log D(G(z)) instead
	WGANGP        = "wgan-gp"       // Gulrajani et al. 2017: a critic with a gradient penalty
)

// Philox streams of the family's random numbers: the training z, WGAN-GP's
// interpolation weights and the sampler's z. They sit apart from nn's
// dropout streams (1, 2, ...) and sde's (0x5DE0000x).
const (
	StreamLatent  uint32 = 0x6A400001 // training: z ~ N(0, I) (nn.NormalLike)
	StreamEps     uint32 = 0x6A400002 // training: WGAN-GP's eps ~ U[0, 1) per sample
	StreamSampler uint32 = 0x6A400003 // sampling: image i's z from (sample.seed, i)
)

// bnMomentum is how far BatchNorm's running statistics move towards each
// batch's, as torch's default.
const bnMomentum = 0.1

// Family is a GAN configured by an experiment. It implements model.Family.
type Family struct {
	loss           string
	latent, ch     int
	nCritic        int
	gpLambda       float64
	c, h, w        int
	dOptim, gOptim optim.Settings
}

// New returns the family cfg configures: cfg.Validate's checks (which name
// the key of a bad value), a model.type of gan, and the image shape of
// data.name.
func New(cfg *configs.Config) (*Family, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("gan: %w", err)
	}
	if cfg.Model.Type != "gan" {
		return nil, fmt.Errorf("gan: model.type = %q: want \"gan\"", cfg.Model.Type)
	}
	g := cfg.GAN
	f := &Family{loss: g.Loss, latent: g.Latent, ch: g.Ch, nCritic: g.NCritic, gpLambda: g.GPLambda}
	var err error
	if f.c, f.h, f.w, err = data.ImageShape(cfg.Data.Name); err != nil {
		return nil, fmt.Errorf("gan: %w", err)
	}
	f.gOptim = optim.FromTrain(cfg.Train)
	f.dOptim = f.gOptim
	f.dOptim.EMA = 0 // only the generator's average is sampled from
	if g.LRD > 0 {
		f.dOptim.LR = g.LRD
	}
	return f, nil
}

// Type is "gan".
func (f *Family) Type() string { return "gan" }

// ImageShape is 1x28x28 for MNIST and Fashion-MNIST, 3x32x32 for CIFAR-10.
func (f *Family) ImageShape() (c, h, w int) { return f.c, f.h, f.w }
