package gan

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/nn"
)

// leakySlope is the discriminator's LeakyReLU slope, as DCGAN's.
const leakySlope = 0.2

// layers builds a network with nn.Builder and applies the ops that the
// Builder has no method for, keeping the first error as the Builder does.
type layers struct {
	*nn.Builder
	err error
	// state are BatchNorm's running statistics, in creation order.
	state []bnState
}

// bnState is one BatchNorm layer's running statistic (an input of the
// graph) and, in training graphs, the batch statistic it follows.
type bnState struct {
	value, batch *gorgonia.Node
}

func (l *layers) failed() bool { return l.err != nil || l.Err() != nil }

// do applies f as the layer name unless building has already failed.
func (l *layers) do(name string, f func() (*gorgonia.Node, error)) *gorgonia.Node {
	if l.failed() {
		return nil
	}
	y, err := f()
	if err != nil {
		l.err = fmt.Errorf("layer %s: %w", name, err)
		return nil
	}
	return y
}

// firstErr is the first error of the Builder or of do.
func (l *layers) firstErr() error {
	if err := l.Err(); err != nil {
		return err
	}
	return l.err
}

// stages is the number of 2x upsamplings of the generator (and strided
// convolutions of the discriminator) for an image side: 7 -> 14 -> 28, or
// 4 -> 8 -> 16 -> 32.
func stages(side int) (n, base int) {
	if side == 32 {
		return 3, 4
	}
	return 2, 7
}

// generator maps z [B, latent] to images [B, c, side, side] in [-1, 1]:
// a linear layer to [ch*2^(n-1), base, base], then per stage BatchNorm,
// ReLU, nearest 2x upsampling and a 3x3 convolution halving the channels,
// and Tanh after the last. Upsampling and a convolution rather than a
// transposed convolution: no checkerboard artefacts (Odena et al. 2016),
// and both ops exist on the CPU and the GPU. With train, BatchNorm
// normalises by the batch's statistics; otherwise by the running ones.
func generator(l *layers, z *gorgonia.Node, c, side, ch int, train bool) *gorgonia.Node {
	n, base := stages(side)
	width := ch << (n - 1)
	h := l.Linear("g.fc", z, width*base*base)
	h = l.Reshape("g.fc.reshape", h, tensor.Shape{z.Shape()[0], width, base, base})
	for i := range n {
		h = l.batchNorm(fmt.Sprintf("g.bn%d", i), h, train)
		h = l.Act(fmt.Sprintf("g.relu%d", i), h, nn.ReLU)
		h = l.Upsample2x(fmt.Sprintf("g.up%d", i), h)
		out := c
		if i < n-1 {
			width /= 2
			out = width
		}
		h = l.Conv2d(fmt.Sprintf("g.conv%d", i), h, out, 3, 1, 1, 1)
	}
	return l.Act("g.tanh", h, nn.Tanh)
}

// critic is the discriminator's parameters: it is applied to the real,
// the generated and (WGAN-GP) the interpolated batch with the same weights.
// Per stage a 4x4 convolution of stride 2 doubling the channels and
// LeakyReLU(0.2), then a linear layer to one logit. No BatchNorm: WGAN-GP's
// penalty is per sample, which batch statistics would couple (Gulrajani et
// al. 2017, section 4), and one network then serves all three losses.
type critic struct {
	l      *layers
	convW  []*gorgonia.Node
	convB  []*gorgonia.Node
	fcW    *gorgonia.Node
	fcB    *gorgonia.Node
	flat   int
	stages int
}

func newCritic(l *layers, c, side, ch int) *critic {
	n, base := stages(side)
	d := &critic{l: l, stages: n}
	in := c
	for i := range n {
		out := ch << i
		bound := 1 / math.Sqrt(float64(in*16)) // PyTorch's default: Kaiming-uniform with a = sqrt(5)
		d.convW = append(d.convW, l.Param(fmt.Sprintf("d.conv%d.weight", i), tensor.Shape{out, in, 4, 4}, bound))
		d.convB = append(d.convB, l.Param(fmt.Sprintf("d.conv%d.bias", i), tensor.Shape{out}, bound))
		in = out
	}
	d.flat = in * base * base
	bound := 1 / math.Sqrt(float64(d.flat))
	d.fcW = l.Param("d.fc.weight", tensor.Shape{1, d.flat}, bound)
	d.fcB = l.Param("d.fc.bias", tensor.Shape{1}, bound)
	return d
}

// apply is the critic's logit [B, 1] for images x.
func (d *critic) apply(x *gorgonia.Node) (*gorgonia.Node, error) {
	h := x
	for i := range d.stages {
		h = d.l.do(fmt.Sprintf("d.conv%d", i), func() (*gorgonia.Node, error) {
			y, err := nn.Conv2d(h, d.convW[i], d.convB[i], 2, 1)
			if err != nil {
				return nil, err
			}
			return nn.Activate(y, nn.LeakyReLU, leakySlope)
		})
	}
	y := d.l.do("d.fc", func() (*gorgonia.Node, error) {
		f, err := nn.Reshape(h, tensor.Shape{x.Shape()[0], d.flat})
		if err != nil {
			return nil, err
		}
		return nn.Linear(f, d.fcW, d.fcB)
	})
	return y, d.l.firstErr()
}
