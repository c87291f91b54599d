// Package train trains score networks with denoising score matching
// (Song et al. 2021): one compiled plan for the forward and backward pass,
// Adam with warm-up and global-norm clipping, an EMA of the weights, logs,
// a metrics file, sample grids, and checkpoints that a resumed run
// continues bit for bit. It also turns a trained network into a score
// function for the samplers of package sde.
package train

import (
	"fmt"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/sde"
	"github.com/scoregen/scoregen/unet"
)

// ImageShape is the channels, height and width of a data set's images.
func ImageShape(dataset string) (c, h, w int, err error) {
	switch dataset {
	case "mnist", "fashion":
		return 1, 28, 28, nil
	case "cifar10":
		return 3, 32, 32, nil
	}
	return 0, 0, 0, fmt.Errorf("unknown data set %q", dataset)
}

// NetConfig is the U-Net an experiment describes, for its data set's images.
func NetConfig(c *configs.Config) (unet.Config, error) {
	ch, h, w, err := ImageShape(c.Data.Name)
	if err != nil {
		return unet.Config{}, err
	}
	return unet.Config{
		Name: c.Data.Name, Channels: ch, Height: h, Width: w,
		Ch: c.Model.Ch, Mult: c.Model.Mult, NumResBlocks: c.Model.NumResBlocks,
		AttnRes: c.Model.AttnRes, Dropout: c.Model.Dropout,
	}, nil
}

// NewSDE is the forward SDE an experiment describes.
func NewSDE(c configs.SDE) (sde.SDE, error) {
	switch c.Type {
	case "ve":
		return sde.NewVE(c.SigmaMin, c.SigmaMax, c.N)
	case "vp":
		return sde.NewVP(c.BetaMin, c.BetaMax, c.N)
	case "subvp":
		return sde.NewSubVP(c.BetaMin, c.BetaMax, c.N)
	}
	return nil, fmt.Errorf("unknown SDE %q (want ve, vp or subvp)", c.Type)
}
