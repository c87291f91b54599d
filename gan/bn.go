package gan

import (
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/nn"
)

// bnEps is BatchNorm's epsilon, as torch's.
const bnEps = 1e-5

// batchNorm normalises x [N, C, H, W] per channel and applies a learned
// scale and shift ("name.weight" from 1, "name.bias" from 0), as torch's
// BatchNorm2d. With train it normalises by the batch's mean and biased
// variance and records the batch's mean and unbiased variance, which the
// running statistics ("name.running_mean" from 0, "name.running_var" from
// 1: inputs of the graph) follow; otherwise it normalises by the running
// statistics. It is made of nn ops, each with its CPU and CUDA kernels and
// gradient.
func (l *layers) batchNorm(name string, x *gorgonia.Node, train bool) *gorgonia.Node {
	if l.failed() {
		return nil
	}
	c := x.Shape()[1]
	gamma := l.Const(name+".weight", tensor.Shape{c}, 1)
	beta := l.Const(name+".bias", tensor.Shape{c}, 0)
	runMean := stateInput(l.G, name+".running_mean", c, 0)
	runVar := stateInput(l.G, name+".running_var", c, 1)
	perChannel := tensor.Shape{1, c, 1, 1}
	n := float64(x.Shape().TotalSize() / c)
	var mean, variance, centred *gorgonia.Node
	if train {
		mean = l.do(name+".mean", func() (*gorgonia.Node, error) { return channelMean(x, perChannel, n) })
		centred = l.do(name+".centre", func() (*gorgonia.Node, error) { return nn.Binary(nn.Sub, x, mean) })
		variance = l.do(name+".var", func() (*gorgonia.Node, error) {
			sq, err := nn.Binary(nn.Mul, centred, centred)
			if err != nil {
				return nil, err
			}
			return channelMean(sq, perChannel, n)
		})
	} else {
		mean = l.do(name+".running_mean", func() (*gorgonia.Node, error) { return nn.Reshape(runMean, perChannel) })
		centred = l.do(name+".centre", func() (*gorgonia.Node, error) { return nn.Binary(nn.Sub, x, mean) })
		variance = l.do(name+".running_var", func() (*gorgonia.Node, error) { return nn.Reshape(runVar, perChannel) })
	}
	epsNode := filled(l.G, name+".eps", tensor.Float32, tensor.Shape{1, 1, 1, 1}, bnEps)
	y := l.do(name, func() (*gorgonia.Node, error) {
		// scale = gamma / sqrt(var + eps) = gamma exp(-log(var + eps) / 2).
		s, err := nn.Binary(nn.Add, variance, epsNode)
		if err == nil {
			s, err = nn.Activate(s, nn.Log, 0)
		}
		if err == nil {
			s, err = nn.Scale(s, -0.5)
		}
		if err == nil {
			s, err = nn.Activate(s, nn.Exp, 0)
		}
		var g, b *gorgonia.Node
		if err == nil {
			g, err = nn.Reshape(gamma, perChannel)
		}
		if err == nil {
			s, err = nn.Binary(nn.Mul, s, g)
		}
		if err == nil {
			b, err = nn.Reshape(beta, perChannel)
		}
		if err != nil {
			return nil, err
		}
		y, err := nn.Binary(nn.Mul, centred, s)
		if err != nil {
			return nil, err
		}
		return nn.Binary(nn.Add, y, b)
	})
	if !train {
		l.state = append(l.state, bnState{value: runMean}, bnState{value: runVar})
		return y
	}
	batchMean := l.do(name+".batch_mean", func() (*gorgonia.Node, error) { return nn.Reshape(mean, tensor.Shape{c}) })
	batchVar := l.do(name+".batch_var", func() (*gorgonia.Node, error) {
		// torch's running variance follows the unbiased estimate.
		v, err := nn.Scale(variance, n/max(n-1, 1))
		if err != nil {
			return nil, err
		}
		return nn.Reshape(v, tensor.Shape{c})
	})
	l.state = append(l.state, bnState{value: runMean, batch: batchMean}, bnState{value: runVar, batch: batchVar})
	return y
}

// channelMean is the mean of x over every axis but the channel's, of shape
// perChannel; n is the number of elements per channel.
func channelMean(x *gorgonia.Node, perChannel tensor.Shape, n float64) (*gorgonia.Node, error) {
	s, err := nn.SumTo(x, perChannel)
	if err != nil {
		return nil, err
	}
	return nn.Scale(s, 1/n)
}

// stateInput is a float32 input [c] named name starting at v.
func stateInput(g *gorgonia.ExprGraph, name string, c int, v float64) *gorgonia.Node {
	return filled(g, name, tensor.Float32, tensor.Shape{c}, v)
}
