package gan

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/model"
	"github.com/scoregen/scoregen/nn"
)

// The parameter groups of a training graph, and the generator's update
// (the second, after the discriminator's).
const (
	groupD  = 0
	groupG  = 1
	updateG = 1
)

// TrainGraph builds one step of GAN training for batches of batch images,
// with parameters initialised from seed: the real batch X ("x"), z ~ N(0,
// I) drawn in the graph (keyed by the trainer's RNG.Step), the generator
// ("g." parameters) and the discriminator ("d."), and both losses. The
// step is gan.n_critic updates of the discriminator, each on a new batch,
// then one of the generator, which reads no data. Each update's gradient
// is by its own group's parameters only: the other network's weights are
// read-only inputs of its plan. The generator's BatchNorm running
// statistics follow the batch statistics of the generator's update.
func (f *Family) TrainGraph(batch int, seed uint64) (*model.TrainGraph, error) {
	if batch < 1 {
		return nil, fmt.Errorf("gan: batch %d: want at least 1", batch)
	}
	g := gorgonia.NewGraph()
	l := &layers{Builder: nn.NewBuilder(g, seed, true)}
	x := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(batch, f.c, f.h, f.w), gorgonia.WithName("x"))
	z := l.do("g.z", func() (*gorgonia.Node, error) {
		return nn.NormalLike(filled(g, "gan.z.shape", tensor.Float32, tensor.Shape{batch, f.latent}, 0), StreamLatent, l.RNG)
	})
	fake := generator(l, z, f.c, f.h, f.ch, true)
	gParams := append([]*gorgonia.Node(nil), l.Params...)
	d := newCritic(l, f.c, f.h, f.ch)
	if err := l.firstErr(); err != nil {
		return nil, fmt.Errorf("gan: %w", err)
	}
	dParams := append([]*gorgonia.Node(nil), l.Params[len(gParams):]...)
	gm, err := newGame(f.loss, f.gpLambda, d.apply, x, fake, l.RNG)
	if err != nil {
		return nil, fmt.Errorf("gan: %w", err)
	}
	tg := &model.TrainGraph{
		G: g, X: x, RNG: l.RNG,
		Groups: []model.Group{
			groupD: {Name: "d", Params: dParams, Optim: f.dOptim},
			groupG: {Name: "g", Params: gParams, Optim: f.gOptim},
		},
		Updates: []model.Update{
			{Name: "d", Group: groupD, Loss: gm.lossD, Repeat: f.nCritic, Data: true, Metrics: gm.metrics},
			{Name: "g", Group: groupG, Loss: gm.lossG},
		},
	}
	for _, s := range l.state {
		tg.State = append(tg.State, model.State{Value: s.value, Batch: s.batch, Update: updateG, Momentum: bnMomentum})
	}
	return tg, nil
}
