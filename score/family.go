// Package score is the score-SDE family (Song et al. 2021): the U-Net of
// package unet trained by denoising score matching on a forward SDE of
// package sde, and sampled by sde's reverse-time samplers; by
// model.objective, the same U-Net trained by flow matching or by
// consistency training instead. It implements model.Family for model.type
// unet, and estimates the memory of its training step and sampler before
// anything is allocated.
package score

import (
	"fmt"

	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/data"
	"github.com/scoregen/scoregen/model"
	"github.com/scoregen/scoregen/nn"
	"github.com/scoregen/scoregen/optim"
	"github.com/scoregen/scoregen/sde"
	"github.com/scoregen/scoregen/unet"
)

// Family is a score network and its SDE as an experiment configures them.
type Family struct {
	cfg *configs.Config
	Net unet.Config
	SDE sde.SDE
	// CT is the consistency setting of model.objective consistency; nil
	// for the other objectives.
	CT *sde.Consistency
}

// New is the score family of cfg (model.type unet).
func New(cfg *configs.Config) (*Family, error) {
	netCfg, err := NetConfig(cfg)
	if err != nil {
		return nil, err
	}
	s, err := NewSDE(cfg.SDE)
	if err != nil {
		return nil, err
	}
	f := &Family{cfg: cfg, Net: netCfg, SDE: s}
	if cfg.Model.Objective == "consistency" {
		if f.CT, err = NewConsistency(cfg.Consistency); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// Type is model.type.
func (f *Family) Type() string { return "unet" }

// continuous reports whether the ODE and the reverse SDE apply: not to
// DDPM's discrete steps, flow matching nor a consistency model (whose
// network is no score).
func (f *Family) continuous() error {
	if f.Flow() || f.CT != nil {
		return fmt.Errorf("model.objective %s has no SDE", f.cfg.Model.Objective)
	}
	if _, ok := f.SDE.(*sde.DDPM); ok {
		return fmt.Errorf("sde.type ddpm is discrete, with no probability-flow ODE")
	}
	return nil
}

// Flow reports whether the network learns flow matching's velocity
// (model.objective flow) rather than the SDE's noise.
func (f *Family) Flow() bool { return f.cfg.Model.Objective == "flow" }

// ImageShape is the channels, height and width of the data set's images.
func (f *Family) ImageShape() (c, h, w int) { return f.Net.Channels, f.Net.Height, f.Net.Width }

// TrainGraph is the denoising score-matching step for batches of batch
// images: the network on the noised batch, its loss against the noise, one
// parameter group with train's optimiser and EMA, and the noising itself
// as the graph's Prepare (the network never sees the clean batch); with
// model.objective consistency, consistency training's step
// (consistencyTrainGraph). The step's memory is checked first.
func (f *Family) TrainGraph(batch int, seed uint64) (*model.TrainGraph, error) {
	cfg := *f.cfg
	cfg.Data.BatchSize = batch
	if err := CheckTraining(f.Net, &cfg); err != nil {
		return nil, err
	}
	if f.CT != nil {
		return f.consistencyTrainGraph(batch, seed)
	}
	sg, err := newStepGraph(f.Net, batch, seed)
	if err != nil {
		return nil, err
	}
	drop := labelDrop{Seed: seed, P: f.cfg.Model.PUncond, Keep: sg.net.Keep, Null: sg.net.Null}
	var prep model.Preparer = &Perturb{SDE: f.SDE, Seed: seed, Eps: f.cfg.SDE.Eps, XT: sg.net.X, Z: sg.z, T: sg.net.T, labelDrop: drop}
	if f.Flow() {
		// The same graph: the network's output against the velocity.
		prep = &FlowPerturb{Seed: seed, Eps: f.cfg.SDE.Eps, XT: sg.net.X, Target: sg.z, T: sg.net.T, labelDrop: drop}
	}
	return &model.TrainGraph{
		G:       sg.net.X.Graph(),
		RNG:     sg.net.RNG,
		Labels:  sg.net.Labels,
		Groups:  []model.Group{{Name: "net", Params: sg.net.Params, Optim: optim.FromTrain(f.cfg.Train)}},
		Updates: []model.Update{{Group: 0, Loss: sg.loss, Data: true}},
		Prepare: prep,
	}, nil
}

// stepGraph is the training step's graph: the network on the noised batch
// X at times T, and the loss against the noise Z.
type stepGraph struct {
	net  *unet.Net
	z    *gorgonia.Node
	loss *gorgonia.Node
}

func newStepGraph(netCfg unet.Config, batch int, seed uint64) (*stepGraph, error) {
	g := gorgonia.NewGraph()
	net, err := unet.Build(g, netCfg, batch, true, seed)
	if err != nil {
		return nil, err
	}
	z := gorgonia.NewTensor(g, net.X.Dtype(), 4, gorgonia.WithShape(net.X.Shape()...), gorgonia.WithName("z"))
	loss, err := Loss(net.Out, z)
	if err != nil {
		return nil, err
	}
	return &stepGraph{net: net, z: z, loss: loss}, nil
}

// Loss is the denoising score-matching loss with weighting std(t)^2 for a
// network that predicts the noise: the mean over the batch of the squared
// error summed over pixels (REFERENCE_UNET.md; Song et al. 2021, eq. 7).
func Loss(epsHat, z *gorgonia.Node) (*gorgonia.Node, error) {
	mse, err := nn.MSE(epsHat, z)
	if err != nil {
		return nil, err
	}
	s := epsHat.Shape()
	return nn.Scale(mse, float64(s.TotalSize()/s[0]))
}

// NetConfig is the U-Net an experiment describes, for its data set's images.
func NetConfig(c *configs.Config) (unet.Config, error) {
	ch, h, w, err := data.ImageShape(c.Data.Name)
	if err != nil {
		return unet.Config{}, err
	}
	return unet.Config{
		Name: c.Data.Name, Channels: ch, Height: h, Width: w,
		Ch: c.Model.Ch, Mult: c.Model.Mult, NumResBlocks: c.Model.NumResBlocks,
		AttnRes: c.Model.AttnRes, Dropout: c.Model.Dropout, NumClasses: c.Model.NumClasses,
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
	case "ddpm":
		return sde.NewDDPM(c.BetaMin, c.BetaMax, c.N)
	}
	return nil, fmt.Errorf("unknown SDE %q (want ve, vp, subvp or ddpm)", c.Type)
}
