package classify

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/device"
	"github.com/scoregen/scoregen/model"
	"github.com/scoregen/scoregen/nn"
)

// forward is the network without dropout compiled for batches of a fixed
// size with a checkpoint's weights: what Evaluate and the Judge run.
type forward struct {
	plans                   *device.Plans
	x, features, logits     *gorgonia.Node
	batch, dim, imageSize   int
	xBuf, featBuf, logitBuf []float32
}

// newForward compiles f's network for batches of batch images on
// o.Device, batch-invariant (on the CPU an image's outputs do not depend
// on the other images of its batch), with the weights w (their averages
// with o.EMA, where the checkpoint keeps them: model.Weights.Param).
func (f *Family) newForward(w model.Weights, batch int, o model.SampleOptions) (*forward, error) {
	g := gorgonia.NewGraph()
	b := nn.NewBuilder(g, 0, false)
	x := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(batch, f.c, f.h, f.w), gorgonia.WithName("x"))
	features, logits, err := f.net(b, x)
	if err != nil {
		return nil, fmt.Errorf("classifier: %w", err)
	}
	plans, err := device.Compile(o.Device, device.Options{GPU: o.GPU, BatchInvariant: true}, gorgonia.Nodes{features, logits})
	if err != nil {
		return nil, fmt.Errorf("classifier: compiling the network: %w", err)
	}
	if err := w.Load(plans.Plans[0], b.Params, o.EMA); err != nil {
		plans.Close()
		return nil, fmt.Errorf("classifier: %w", err)
	}
	dim := f.cfg.Features
	return &forward{plans: plans, x: x, features: features, logits: logits, batch: batch, dim: dim, imageSize: f.c * f.h * f.w,
		xBuf: make([]float32, batch*f.c*f.h*f.w), featBuf: make([]float32, batch*dim), logitBuf: make([]float32, batch*Classes)}, nil
}

// run computes the features [n, dim] and logits [n, Classes] of the
// n <= batch images at the start of x (NCHW, in [-1, 1]). The views it
// returns are overwritten by the next run. The rest of the batch holds
// earlier images, whose outputs are ignored.
func (p *forward) run(x []float32, n int) (features, logits []float32, err error) {
	copy(p.xBuf, x[:n*p.imageSize])
	plan := p.plans.Plans[0]
	if err := plan.Write(p.x, p.xBuf); err != nil {
		return nil, nil, err
	}
	if err := plan.Run(); err != nil {
		return nil, nil, err
	}
	if err := plan.Read(p.features, p.featBuf); err != nil {
		return nil, nil, err
	}
	if err := plan.Read(p.logits, p.logitBuf); err != nil {
		return nil, nil, err
	}
	return p.featBuf[:n*p.dim], p.logitBuf[:n*Classes], nil
}

func (p *forward) close() { p.plans.Close() }

// logSoftmax writes log softmax(logits) into dst, in float64.
func logSoftmax(dst []float64, logits []float32) {
	lse := nn.LogSumExp(logits)
	for j, v := range logits {
		dst[j] = float64(v) - lse
	}
}
