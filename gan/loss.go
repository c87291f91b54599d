package gan

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/model"
	"github.com/scoregen/scoregen/nn"
)

// criticFn maps a batch to its logits (the critic's scores) [B, 1].
type criticFn func(x *gorgonia.Node) (*gorgonia.Node, error)

// game is both players' losses on one batch of real and one of generated
// data, and the figures the discriminator's update reports.
type game struct {
	lossD, lossG *gorgonia.Node
	metrics      []model.Metric
}

// newGame builds the losses of kind with the critic d on real data x and
// generated data fake, each player's loss a mean over the batch:
//
//	minimax, nonsaturating: D minimises softplus(-D(x)) + softplus(D(G(z)))
//	  (the cross-entropy of a sigmoid classifier on logits);
//	  minimax: G minimises log(1 - sigmoid(D(G(z)))) = -softplus(D(G(z)));
//	  nonsaturating: G minimises softplus(-D(G(z))) = -log sigmoid(D(G(z))),
//	  which does not saturate while D rejects G's samples easily;
//	wgan-gp: D minimises D(G(z)) - D(x) + lambda (||grad D(xhat)||_2 - 1)^2
//	  with xhat = eps x + (1-eps) G(z), eps ~ U[0, 1) per sample drawn from
//	  rng; G minimises -D(G(z)).
//
// The discriminator's update reports the mean logits of the real and the
// generated batch ("real", "fake") and for WGAN-GP the penalty ("gp").
func newGame(kind string, lambda float64, d criticFn, x, fake *gorgonia.Node, rng *nn.RNG) (*game, error) {
	real, err := d(x)
	if err != nil {
		return nil, err
	}
	gen, err := d(fake)
	if err != nil {
		return nil, err
	}
	meanReal, err := nn.Mean(real)
	if err != nil {
		return nil, err
	}
	meanGen, err := nn.Mean(gen)
	if err != nil {
		return nil, err
	}
	gm := &game{metrics: []model.Metric{{Name: "real", Node: meanReal}, {Name: "fake", Node: meanGen}}}
	switch kind {
	case Minimax, NonSaturating:
		realTerm, err := meanSoftplus(real, -1)
		if err != nil {
			return nil, err
		}
		genTerm, err := meanSoftplus(gen, 1)
		if err != nil {
			return nil, err
		}
		if gm.lossD, err = nn.Binary(nn.Add, realTerm, genTerm); err != nil {
			return nil, err
		}
		if kind == Minimax {
			gm.lossG, err = nn.Scale(genTerm, -1)
		} else {
			gm.lossG, err = meanSoftplus(gen, -1)
		}
		if err != nil {
			return nil, err
		}
	case WGANGP:
		gap, err := nn.Binary(nn.Sub, meanGen, meanReal)
		if err != nil {
			return nil, err
		}
		gp, err := gradientPenalty(d, x, fake, rng)
		if err != nil {
			return nil, err
		}
		weighted, err := nn.Scale(gp, lambda)
		if err != nil {
			return nil, err
		}
		if gm.lossD, err = nn.Binary(nn.Add, gap, weighted); err != nil {
			return nil, err
		}
		if gm.lossG, err = nn.Scale(meanGen, -1); err != nil {
			return nil, err
		}
		gm.metrics = append(gm.metrics, model.Metric{Name: "gp", Node: gp})
	default:
		return nil, fmt.Errorf("gan: loss %q: want %s, %s or %s", kind, NonSaturating, Minimax, WGANGP)
	}
	return gm, nil
}

// meanSoftplus is the mean of softplus(sign * logits).
func meanSoftplus(logits *gorgonia.Node, sign float64) (*gorgonia.Node, error) {
	v := logits
	if sign != 1 {
		var err error
		if v, err = nn.Scale(logits, sign); err != nil {
			return nil, err
		}
	}
	sp, err := nn.Activate(v, nn.Softplus, 0)
	if err != nil {
		return nil, err
	}
	return nn.Mean(sp)
}

// normFloor keeps the square root of a zero gradient's squared norm
// differentiable; it is far below any norm that matters.
const normFloor = 1e-12

// gradientPenalty is mean_i (||grad_xhat d(xhat)_i||_2 - 1)^2 over the
// samples i, with xhat = fake + eps (x - fake) = eps x + (1-eps) fake and
// eps ~ U[0, 1) one per sample, drawn from rng. The gradient is a node of
// the graph (gorgonia.Backpropagate from d's output), so that the trainer's
// gradient of the loss by d's weights differentiates through it.
func gradientPenalty(d criticFn, x, fake *gorgonia.Node, rng *nn.RNG) (*gorgonia.Node, error) {
	g, dt := x.Graph(), x.Dtype()
	perSample := make(tensor.Shape, x.Dims())
	for i := range perSample {
		perSample[i] = 1
	}
	perSample[0] = x.Shape()[0]
	eps, err := nn.UniformLike(filled(g, "gan.eps.shape", dt, perSample, 0), StreamEps, rng)
	if err != nil {
		return nil, err
	}
	diff, err := nn.Binary(nn.Sub, x, fake)
	if err == nil {
		diff, err = nn.Binary(nn.Mul, eps, diff)
	}
	var xhat *gorgonia.Node
	if err == nil {
		xhat, err = nn.Binary(nn.Add, fake, diff)
	}
	if err != nil {
		return nil, err
	}
	out, err := d(xhat)
	if err != nil {
		return nil, err
	}
	// Each sample's score depends only on its own input, so the gradient
	// of their sum holds every sample's own gradient.
	grads, err := gorgonia.Backpropagate(gorgonia.Nodes{out}, gorgonia.Nodes{filled(g, "gan.gp.ones", dt, out.Shape(), 1)}, gorgonia.Nodes{xhat})
	if err != nil {
		return nil, fmt.Errorf("gan: the critic's gradient by its input: %w", err)
	}
	sq, err := nn.Binary(nn.Mul, grads[0], grads[0])
	if err == nil {
		sq, err = nn.SumTo(sq, perSample)
	}
	if err == nil {
		sq, err = nn.Binary(nn.Add, sq, filled(g, "gan.gp.floor", dt, ones(x.Dims()), normFloor))
	}
	var norm *gorgonia.Node
	if err == nil {
		norm, err = nn.Activate(sq, nn.Sqrt, 0)
	}
	if err == nil {
		norm, err = nn.Binary(nn.Sub, norm, filled(g, "gan.gp.one", dt, ones(x.Dims()), 1))
	}
	if err == nil {
		norm, err = nn.Binary(nn.Mul, norm, norm)
	}
	if err != nil {
		return nil, err
	}
	return nn.Mean(norm)
}

// ones is the shape of rank dims with every axis 1.
func ones(dims int) tensor.Shape {
	s := make(tensor.Shape, dims)
	for i := range s {
		s[i] = 1
	}
	return s
}

// filled is an input node named name, of dtype dt and shape s, with v in
// every element: a constant of the plans (which keep an input's value
// until it is written; the engine compiles no gorgonia constant tensors),
// or a state tensor's initial value.
func filled(g *gorgonia.ExprGraph, name string, dt tensor.Dtype, s tensor.Shape, v float64) *gorgonia.Node {
	var t *tensor.Dense
	if dt == tensor.Float64 {
		d := make([]float64, s.TotalSize())
		for i := range d {
			d[i] = v
		}
		t = tensor.New(tensor.WithShape(s...), tensor.WithBacking(d))
	} else {
		d := make([]float32, s.TotalSize())
		for i := range d {
			d[i] = float32(v)
		}
		t = tensor.New(tensor.WithShape(s...), tensor.WithBacking(d))
	}
	return gorgonia.NewTensor(g, dt, s.Dims(), gorgonia.WithShape(s...), gorgonia.WithName(name), gorgonia.WithValue(t))
}
