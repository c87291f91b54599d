package vae

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/model"
	"github.com/scoregen/scoregen/nn"
)

// TrainGraph is one step of the negative ELBO: the batch X is encoded, z
// drawn by the reparameterisation (eps keyed by the step), decoded, and
// the loss is the batch mean of recon + w KL, with w the KL weight
// (vae.beta, warmed up linearly from 0 over vae.kl_warmup steps). For the
// Bernoulli decoder the batch is binarised afresh at each step (dynamic
// binarisation: pixel value p in [0, 1] is 1 with probability p). The
// metrics are per image: "recon" (-log p(x|z)), "kl" and "nelbo" (their
// sum, unweighted).
func (f *Family) TrainGraph(batch int, seed uint64) (*model.TrainGraph, error) {
	if batch < 1 {
		return nil, fmt.Errorf("vae: batch of %d images: want at least 1", batch)
	}
	g := gorgonia.NewGraph()
	b := nn.NewBuilder(g, seed, true)
	x := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(batch, f.c, f.h, f.w), gorgonia.WithName("x"))
	weight := gorgonia.NewTensor(g, tensor.Float32, 2, gorgonia.WithShape(1, 1), gorgonia.WithName("kl_weight"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(1, 1), tensor.WithBacking([]float32{f.klWeight(0)}))))
	mu, logvar, err := f.encode(b, x)
	if err != nil {
		return nil, err
	}
	o := &ops{}
	z := o.reparameterise(mu, logvar, o.keep(nn.NormalLike(mu, StreamEps, b.RNG)))
	if o.err != nil {
		return nil, o.err
	}
	out, err := f.decode(b, z)
	if err != nil {
		return nil, err
	}
	target := x
	if f.cfg.Decoder == Bernoulli {
		target = o.keep(nn.Bernoulli(o.addConst(o.scale(x, 0.5), 0.5), StreamBinarize, b.RNG))
	}
	recon, kl := f.recon(o, out, target), o.kl(mu, logvar)
	loss := o.mean(o.bin(nn.Add, recon, o.bin(nn.Mul, kl, weight)))
	metrics := []model.Metric{
		{Name: "recon", Node: o.mean(recon)},
		{Name: "kl", Node: o.mean(kl)},
		{Name: "nelbo", Node: o.mean(o.bin(nn.Add, recon, kl))},
	}
	if o.err != nil {
		return nil, o.err
	}
	return &model.TrainGraph{
		G: g, X: x, RNG: b.RNG,
		Groups:    []model.Group{{Name: "vae", Params: b.Params, Optim: f.opt}},
		Updates:   []model.Update{{Group: 0, Loss: loss, Data: true, Metrics: metrics}},
		Schedules: []model.Schedule{{Node: weight, Value: f.klWeight}},
	}, nil
}

// klWeight is the KL term's weight after step steps: vae.beta times
// min(1, step / vae.kl_warmup).
func (f *Family) klWeight(step int) float32 {
	w := f.cfg.Beta
	if f.cfg.KLWarmup > 0 {
		w *= math.Min(1, float64(step)/float64(f.cfg.KLWarmup))
	}
	return float32(w)
}
