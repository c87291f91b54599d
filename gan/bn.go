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
// BatchNorm2d: with train by the batch's mean and biased variance
// (nn.BatchNorm), recording the batch's mean and unbiased variance
// (nn.ChannelMoments), which the running statistics ("name.running_mean"
// from 0, "name.running_var" from 1: inputs of the graph) follow;
// otherwise by the running statistics (nn.BatchNormInference).
func (l *layers) batchNorm(name string, x *gorgonia.Node, train bool) *gorgonia.Node {
	if l.failed() {
		return nil
	}
	c := x.Shape()[1]
	gamma := l.Const(name+".weight", tensor.Shape{c}, 1)
	beta := l.Const(name+".bias", tensor.Shape{c}, 0)
	runMean := stateInput(l.G, name+".running_mean", c, 0)
	runVar := stateInput(l.G, name+".running_var", c, 1)
	if !train {
		l.state = append(l.state, bnState{value: runMean}, bnState{value: runVar})
		return l.do(name, func() (*gorgonia.Node, error) {
			return nn.BatchNormInference(x, gamma, beta, runMean, runVar, bnEps)
		})
	}
	y := l.do(name, func() (*gorgonia.Node, error) { return nn.BatchNorm(x, gamma, beta, bnEps) })
	var batchMean, batchVar *gorgonia.Node
	l.do(name+".moments", func() (*gorgonia.Node, error) {
		var err error
		batchMean, batchVar, err = nn.ChannelMoments(x)
		return batchMean, err
	})
	l.state = append(l.state, bnState{value: runMean, batch: batchMean}, bnState{value: runVar, batch: batchVar})
	return y
}

// stateInput is a float32 input [c] named name starting at v.
func stateInput(g *gorgonia.ExprGraph, name string, c int, v float64) *gorgonia.Node {
	return filled(g, name, tensor.Float32, tensor.Shape{c}, v)
}
