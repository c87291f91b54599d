package vae

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/nn"
)

// ops applies nn ops in sequence and keeps the first error, as nn.Builder
// does for layers, so that the loss reads as its formula: after an error
// every call returns nil, and the caller checks err once.
type ops struct{ err error }

func (o *ops) keep(n *gorgonia.Node, err error) *gorgonia.Node {
	if o.err == nil && err != nil {
		o.err = err
	}
	if o.err != nil {
		return nil
	}
	return n
}

// live reports whether building may go on: no error so far and no nil input.
func (o *ops) live(in ...*gorgonia.Node) bool {
	for _, n := range in {
		if n == nil && o.err == nil {
			o.err = fmt.Errorf("vae: nil input to an op")
		}
	}
	return o.err == nil
}

func (o *ops) bin(k nn.BinaryKind, a, b *gorgonia.Node) *gorgonia.Node {
	if !o.live(a, b) {
		return nil
	}
	return o.keep(nn.Binary(k, a, b))
}

func (o *ops) act(x *gorgonia.Node, a nn.Act) *gorgonia.Node {
	if !o.live(x) {
		return nil
	}
	return o.keep(nn.Activate(x, a, 0))
}

func (o *ops) scale(x *gorgonia.Node, f float64) *gorgonia.Node {
	if !o.live(x) {
		return nil
	}
	return o.keep(nn.Scale(x, f))
}

func (o *ops) reshape(x *gorgonia.Node, s ...int) *gorgonia.Node {
	if !o.live(x) {
		return nil
	}
	return o.keep(nn.Reshape(x, tensor.Shape(s)))
}

func (o *ops) split(x *gorgonia.Node, from, to int) *gorgonia.Node {
	if !o.live(x) {
		return nil
	}
	return o.keep(nn.Split(x, from, to))
}

func (o *ops) mean(x *gorgonia.Node) *gorgonia.Node {
	if !o.live(x) {
		return nil
	}
	return o.keep(nn.Mean(x))
}

// rowSum sums x [B, ...] over all but its first axis: [B, 1].
func (o *ops) rowSum(x *gorgonia.Node) *gorgonia.Node {
	if !o.live(x) {
		return nil
	}
	b := x.Shape()[0]
	return o.keep(nn.SumTo(o.reshape(x, b, x.Shape().TotalSize()/b), tensor.Shape{b, 1}))
}

// addConst is x + v, v broadcast over x. v is an input node holding its
// value in x's dtype (the engine compiles inputs and nn ops, not
// gorgonia's constants; tests run float64 graphs).
func (o *ops) addConst(x *gorgonia.Node, v float64) *gorgonia.Node {
	if !o.live(x) {
		return nil
	}
	s := make(tensor.Shape, x.Dims())
	for i := range s {
		s[i] = 1
	}
	var val any = []float32{float32(v)}
	if x.Dtype() == tensor.Float64 {
		val = []float64{v}
	}
	c := gorgonia.NewTensor(x.Graph(), x.Dtype(), len(s), gorgonia.WithShape(s...), gorgonia.WithName(fmt.Sprintf("const(%v)%v", v, s)),
		gorgonia.WithValue(tensor.New(tensor.WithShape(s...), tensor.WithBacking(val))))
	return o.bin(nn.Add, x, c)
}

// reparameterise is z = mu + exp(logvar/2) eps: a draw of q(z|x) that is
// differentiable in mu and logvar for noise eps ~ N(0, I) of their shape
// (or broadcast to it: [B, K, latent] against [B, 1, latent]).
func (o *ops) reparameterise(mu, logvar, eps *gorgonia.Node) *gorgonia.Node {
	return o.bin(nn.Add, mu, o.bin(nn.Mul, o.act(o.scale(logvar, 0.5), nn.Exp), eps))
}

// kl is KL(N(mu, e^logvar) || N(0, I)) per image, [B, 1], in closed form:
// 0.5 sum(mu^2 + e^logvar - 1 - logvar).
func (o *ops) kl(mu, logvar *gorgonia.Node) *gorgonia.Node {
	if !o.live(mu, logvar) {
		return nil
	}
	t := o.bin(nn.Sub, o.bin(nn.Add, o.bin(nn.Mul, mu, mu), o.act(logvar, nn.Exp)), logvar)
	return o.addConst(o.scale(o.rowSum(t), 0.5), -0.5*float64(mu.Shape()[1]))
}

// recon is -log p(x|z) per image, [B, 1], for the decoder's output out and
// the data target: binarised pixels for the Bernoulli decoder, whose
// -log p is sum(softplus(l) - t l) over the logits l (binary cross-entropy
// with logits); 8-bit pixels in [-1, 1] for the discretised logistic.
func (f *Family) recon(o *ops, out, target *gorgonia.Node) *gorgonia.Node {
	if f.cfg.Decoder == Logistic {
		if !o.live(out, target) {
			return nil
		}
		mean, logScale := o.split(out, 0, f.c), o.split(out, f.c, 2*f.c)
		if !o.live(mean, logScale) {
			return nil
		}
		return o.rowSum(o.keep(nn.DiscLogisticNLL(target, mean, logScale)))
	}
	return o.rowSum(o.bin(nn.Sub, o.act(out, nn.Softplus), o.bin(nn.Mul, target, out)))
}
