// Package unet builds the U-Net score network of shared/REFERENCE_UNET.md
// (DDPM++ without FIR resampling or progressive growing) from nn layers.
// Parameters are named input nodes ("down.0.res.1.conv1.weight") so that
// checkpoints are readable.
package unet

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/nn"
)

// Config is one network of the reference family.
type Config struct {
	Name         string
	Channels     int // C_in of the images
	Height       int
	Width        int
	Ch           int   // base width
	Mult         []int // channel multiplier per level
	NumResBlocks int   // ResBlocks per level on the way down
	AttnRes      []int // resolutions (height) with attention
	Dropout      float64
	// NumClasses > 0 makes the network class-conditional: a learned
	// embedding of the label, or of "no label", is added to the time
	// embedding (classifier-free guidance, Ho & Salimans 2022).
	NumClasses int
}

// The two reference configurations.
var (
	MNIST   = Config{Name: "mnist", Channels: 1, Height: 28, Width: 28, Ch: 64, Mult: []int{1, 2, 2}, NumResBlocks: 2, AttnRes: []int{7}, Dropout: 0.1}
	CIFAR10 = Config{Name: "cifar10", Channels: 3, Height: 32, Width: 32, Ch: 128, Mult: []int{1, 2, 2, 2}, NumResBlocks: 4, AttnRes: []int{16}, Dropout: 0.1}
)

// ByName returns a reference configuration.
func ByName(name string) (Config, error) {
	for _, c := range []Config{MNIST, CIFAR10} {
		if c.Name == name {
			return c, nil
		}
	}
	return Config{}, fmt.Errorf("unknown U-Net configuration %q (want mnist or cifar10)", name)
}

// layers are what walk reports of a network, one call per layer: a
// convolution (k x k, over hw output positions), a dense layer, a GroupNorm
// over c channels, and the two products of an attention over hw positions.
type layers struct {
	conv       func(cin, cout, k, hw int)
	dense      func(in, out int)
	norm       func(c int)
	attnMatMul func(ch, hw int)
}

// walk calls l for every layer of the network, in Build's order, so that
// counts of the network (FLOP, parameters) follow Build without building it.
func (c Config) walk(l layers) {
	hw := c.Height * c.Width
	res := func(cin, cout, hw int) {
		l.norm(cin)
		l.conv(cin, cout, 3, hw)
		l.dense(4*c.Ch, cout)
		l.norm(cout)
		l.conv(cout, cout, 3, hw)
		if cin != cout {
			l.conv(cin, cout, 1, hw)
		}
	}
	attn := func(ch, hw int) {
		l.norm(ch)
		for range 3 { // q, k, v
			l.conv(ch, ch, 1, hw)
		}
		l.attnMatMul(ch, hw)
		l.conv(ch, ch, 1, hw)
	}
	l.dense(c.Ch, 4*c.Ch)
	l.dense(4*c.Ch, 4*c.Ch)
	if c.NumClasses > 0 {
		l.dense(c.NumClasses+1, 4*c.Ch) // the label embedding
	}
	l.conv(c.Channels, c.Ch, 3, hw)
	hs := []int{c.Ch}
	ch, h := c.Ch, c.Height
	for i, m := range c.Mult {
		for range c.NumResBlocks {
			res(ch, c.Ch*m, hw)
			ch = c.Ch * m
			if c.hasAttn(h) {
				attn(ch, hw)
			}
			hs = append(hs, ch)
		}
		if i != len(c.Mult)-1 {
			hw /= 4
			h /= 2
			l.conv(ch, ch, 3, hw)
			hs = append(hs, ch)
		}
	}
	res(ch, ch, hw)
	attn(ch, hw)
	res(ch, ch, hw)
	for i := len(c.Mult) - 1; i >= 0; i-- {
		for range c.NumResBlocks + 1 {
			skip := hs[len(hs)-1]
			hs = hs[:len(hs)-1]
			res(ch+skip, c.Ch*c.Mult[i], hw)
			ch = c.Ch * c.Mult[i]
			if c.hasAttn(h) {
				attn(ch, hw)
			}
		}
		if i != 0 {
			hw *= 4
			h *= 2
			l.conv(ch, ch, 3, hw)
		}
	}
	l.norm(ch)
	l.conv(ch, c.Channels, 3, hw)
}

// FlopsPerImage is the forward cost in FLOP (2 per multiply-add) of the
// convolutions, dense layers and attention products.
func (c Config) FlopsPerImage() float64 {
	var f float64
	c.walk(layers{
		conv:       func(cin, cout, k, hw int) { f += 2 * float64(cin*cout*k*k*hw) },
		dense:      func(in, out int) { f += 2 * float64(in*out) },
		norm:       func(int) {},
		attnMatMul: func(ch, hw int) { f += 2 * 2 * float64(hw*hw*ch) },
	})
	return f
}

// ParamCount is the number of parameters Build makes, counted without
// making them (at model.ch = 100000 they would not fit in memory). It is an
// int64 and counts in int64 so that absurd widths do not overflow.
func (c Config) ParamCount() int64 {
	var n int64
	c.walk(layers{
		conv:       func(cin, cout, k, _ int) { n += int64(cout)*int64(cin)*int64(k*k) + int64(cout) },
		dense:      func(in, out int) { n += int64(out)*int64(in) + int64(out) },
		norm:       func(ch int) { n += 2 * int64(ch) },
		attnMatMul: func(int, int) {},
	})
	return n
}

func (c Config) hasAttn(res int) bool {
	for _, r := range c.AttnRes {
		if r == res {
			return true
		}
	}
	return false
}

// Net is a built network: its inputs, its output and its parameters.
type Net struct {
	X *gorgonia.Node // [B, C, H, W] noisy images
	T *gorgonia.Node // [B] diffusion times
	// Labels ([B, classes], one-hot), Keep and Null ([B, 1]) are the
	// class-conditional network's inputs: image i is conditioned on its
	// label where Keep[i] = 1 and Null[i] = 0, on "no label" where Keep[i]
	// = 0 and Null[i] = 1. nil when Config.NumClasses is 0.
	Labels, Keep, Null *gorgonia.Node
	Out                *gorgonia.Node // [B, C, H, W] predicted noise
	Params             []*gorgonia.Node
	RNG                *nn.RNG // dropout's Philox key and step
	train              bool    // dropout is applied
}

// groups is the reference GroupNorm group count, min(32, C/4).
func groups(c int) int { return min(32, c/4) }

type builder struct {
	*nn.Builder
	cfg  Config
	temb *gorgonia.Node // SiLU(temb), the input of every ResBlock's dense layer
}

// Build adds the network for batches of `batch` images to g. With train set,
// dropout is applied; seed initialises the parameters and keys dropout.
func Build(g *gorgonia.ExprGraph, cfg Config, batch int, train bool, seed uint64) (*Net, error) {
	return build(nn.NewBuilder(g, seed, train), cfg, batch)
}

// Twin adds to n's graph a second network of cfg (n's config) whose
// parameter and input names are prefix + n's: its parameters start equal
// to n's (the same seed draws the same values in the same order) and its
// dropout, when n's is on, draws n's masks (n's RNG, and the same
// streams). Consistency training's target network is n's twin: the
// official code restores the dropout RNG's state before the target's pass
// (openai/consistency_models' consistency_losses; the JAX code passes
// both networks one dropout_rng).
func (n *Net) Twin(cfg Config, prefix string) (*Net, error) {
	b := nn.NewBuilder(n.X.Graph(), n.RNG.Seed, n.train)
	b.Prefix, b.RNG = prefix, n.RNG
	return build(b, cfg, n.X.Shape()[0])
}

// build adds the network to nb's graph, its inputs named with nb's prefix too.
func build(nb *nn.Builder, cfg Config, batch int) (*Net, error) {
	g := nb.G
	for _, m := range cfg.Mult {
		if c := cfg.Ch * m; c%4 != 0 || c%groups(c) != 0 {
			return nil, fmt.Errorf("unet %s: channel count %d does not split into GroupNorm groups", cfg.Name, c)
		}
	}
	if d := 1 << (len(cfg.Mult) - 1); cfg.Height%d != 0 || cfg.Width%d != 0 {
		return nil, fmt.Errorf("unet %s: %dx%d images cannot be halved %d times", cfg.Name, cfg.Height, cfg.Width, len(cfg.Mult)-1)
	}
	b := builder{Builder: nb, cfg: cfg}
	x := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(batch, cfg.Channels, cfg.Height, cfg.Width), gorgonia.WithName(nb.Prefix+"x"))
	t := gorgonia.NewVector(g, tensor.Float32, gorgonia.WithShape(batch), gorgonia.WithName(nb.Prefix+"t"))

	ch := cfg.Ch
	e := b.Sinusoidal("temb.embed", t, ch, 1000)
	e = b.Linear("temb.dense0", e, 4*ch)
	e = b.Act("temb.act", e, nn.SiLU)
	e = b.Linear("temb.dense1", e, 4*ch)
	var labels, keep, null *gorgonia.Node
	if k := cfg.NumClasses; k > 0 {
		labels = gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(batch, k), gorgonia.WithName(nb.Prefix+"labels"))
		keep = gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(batch, 1), gorgonia.WithName(nb.Prefix+"keep"))
		null = gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(batch, 1), gorgonia.WithName(nb.Prefix+"null"))
		// One-hot over the classes and "no label", through a dense layer:
		// a table of K+1 embeddings.
		kept := b.Mul("label.keep", labels, keep)
		e = b.Add("label.add", e, b.Linear("label.embed", b.Concat("label.onehot", kept, null), 4*ch))
	}
	b.temb = b.Act("temb.out", e, nn.SiLU)

	h := b.Conv2d("conv_in", x, ch, 3, 1, 1, 1)
	hs := []*gorgonia.Node{h}
	for i, m := range cfg.Mult {
		for j := range cfg.NumResBlocks {
			name := fmt.Sprintf("down.%d.res.%d", i, j)
			h = b.resBlock(name, h, ch*m)
			h = b.maybeAttn(fmt.Sprintf("down.%d.attn.%d", i, j), h)
			hs = append(hs, h)
		}
		if i != len(cfg.Mult)-1 {
			h = b.Conv2d(fmt.Sprintf("down.%d.downsample", i), h, ch*m, 3, 2, 1, 1)
			hs = append(hs, h)
		}
	}
	h = b.resBlock("mid.res.0", h, b.channels(h))
	h = b.attn("mid.attn", h)
	h = b.resBlock("mid.res.1", h, b.channels(h))
	for i := len(cfg.Mult) - 1; i >= 0; i-- {
		for j := range cfg.NumResBlocks + 1 {
			name := fmt.Sprintf("up.%d.res.%d", i, j)
			skip := hs[len(hs)-1]
			hs = hs[:len(hs)-1]
			h = b.Concat(name+".concat", h, skip)
			h = b.resBlock(name, h, ch*cfg.Mult[i])
			h = b.maybeAttn(fmt.Sprintf("up.%d.attn.%d", i, j), h)
		}
		if i != 0 {
			h = b.Upsample2x(fmt.Sprintf("up.%d.upsample", i), h)
			h = b.Conv2d(fmt.Sprintf("up.%d.upsample.conv", i), h, b.channels(h), 3, 1, 1, 1)
		}
	}
	h = b.GroupNorm("norm_out", h, groups(b.channels(h)), nn.SiLU)
	out := b.Conv2d("conv_out", h, cfg.Channels, 3, 1, 1, zeroScale)
	if err := b.Err(); err != nil {
		return nil, fmt.Errorf("unet %s: %w", cfg.Name, err)
	}
	return &Net{X: x, T: t, Labels: labels, Keep: keep, Null: null, Out: out, Params: b.Params, RNG: b.RNG, train: b.Train}, nil
}

// zeroScale starts the last convolution of each block near zero, as DDPM++.
const zeroScale = 1e-10

func (b *builder) channels(x *gorgonia.Node) int {
	if x == nil {
		return 0
	}
	return x.Shape()[1]
}

// resBlock is GN-SiLU-Conv, plus the time embedding, GN-SiLU-Dropout-Conv,
// added to the (projected) input and scaled by 1/sqrt(2).
func (b *builder) resBlock(name string, x *gorgonia.Node, out int) *gorgonia.Node {
	in := b.channels(x)
	h := b.GroupNorm(name+".norm1", x, groups(in), nn.SiLU)
	h = b.Conv2d(name+".conv1", h, out, 3, 1, 1, 1)
	t := b.Linear(name+".temb", b.temb, out)
	if t != nil {
		t = b.Reshape(name+".temb", t, tensor.Shape{t.Shape()[0], out, 1, 1})
	}
	h = b.Add(name+".temb", h, t)
	h = b.GroupNorm(name+".norm2", h, groups(out), nn.SiLU)
	h = b.Dropout(name+".dropout", h, b.cfg.Dropout)
	h = b.Conv2d(name+".conv2", h, out, 3, 1, 1, zeroScale)
	skip := x
	if in != out {
		skip = b.Conv2d(name+".skip", x, out, 1, 1, 0, 1)
	}
	return b.Scale(name, b.Add(name, skip, h), 1/math.Sqrt2)
}

func (b *builder) maybeAttn(name string, x *gorgonia.Node) *gorgonia.Node {
	if x == nil || !b.cfg.hasAttn(x.Shape()[2]) {
		return x
	}
	return b.attn(name, x)
}

// attn is single-head self-attention over the H*W positions.
func (b *builder) attn(name string, x *gorgonia.Node) *gorgonia.Node {
	if x == nil {
		return nil
	}
	s := x.Shape()
	n, c, hw := s[0], s[1], s[2]*s[3]
	h := b.GroupNorm(name+".norm", x, groups(c), nn.Identity)
	flat := tensor.Shape{n, c, hw}
	q := b.Reshape(name, b.Conv2d(name+".q", h, c, 1, 1, 0, 1), flat)
	k := b.Reshape(name, b.Conv2d(name+".k", h, c, 1, 1, 0, 1), flat)
	v := b.Reshape(name, b.Conv2d(name+".v", h, c, 1, 1, 0, 1), flat)
	w := b.MatMul(name, q, k, true, false) // [n, hw(query), hw(key)]
	w = b.Softmax(name, b.Scale(name, w, 1/math.Sqrt(float64(c))))
	h = b.MatMul(name, v, w, false, true) // [n, c, hw(query)]
	h = b.Conv2d(name+".out", b.Reshape(name, h, s), c, 1, 1, 0, zeroScale)
	return b.Scale(name, b.Add(name, x, h), 1/math.Sqrt2)
}
