package nn

import (
	"fmt"

	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/internal/par"
	"github.com/scoregen/scoregen/internal/philox"
)

// uniformLike is U[0, 1) noise of its input's shape, keyed as dropout's
// masks: element i is philox.Uniform24 of lane i%4 of philox(counter (i/4,
// stream, low32(Step), high32(Step)), key Seed). The input gives only the
// shape; the noise does not depend on its values.
type uniformLike struct {
	base
	stream uint32
	rng    *RNG
}

// UniformLike is noise uniform in [0, 1) with x's shape, a pure function of
// (rng.Seed, rng.Step, stream, element), so that a plan draws fresh noise
// each step without being rebuilt and a GPU kernel draws the same numbers.
// Its gradient with respect to x is zero: gorgonia does not differentiate
// through it. stream must differ from those of the model's other random
// ops under the same RNG.
func UniformLike(x *gorgonia.Node, stream uint32, rng *RNG) (*gorgonia.Node, error) {
	if rng == nil {
		return nil, fmt.Errorf("UniformLike of shape %v: no RNG", x.Shape())
	}
	name := fmt.Sprintf("UniformLike(stream=%d)", stream)
	return apply(&uniformLike{base: newBase(name, x.Shape(), x), stream: stream, rng: rng}, x)
}

// DiffWRT: the noise is constant in x.
func (o *uniformLike) DiffWRT(int) []bool { return []bool{false} }

func (o *uniformLike) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return gorgonia.Nodes{nil}, nil
}

func (o *uniformLike) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *uniformLike) BindCPU(c *engine.Call[float32]) func()         { return bindUniformLike(o, c) }
func (o *uniformLike) bind64(c *engine.Call[float64]) func()          { return bindUniformLike(o, c) }

func bindUniformLike[T engine.Float](o *uniformLike, c *engine.Call[T]) func() {
	out, n, rng := c.Out.Data, len(c.Out.Data), o.rng
	// Block b is elements 4b..4b+3: one philox call gives their four lanes.
	body := func(lo, hi int) {
		key := philox.Key(rng.Seed)
		step := rng.Step
		for b := lo; b < hi; b++ {
			r := philox.Block(philox.Counter(b, o.stream, step), key)
			for l := range 4 {
				if i := 4*b + l; i < n {
					out[i] = T(philox.Uniform24(r[l]))
				}
			}
		}
	}
	blocks := (n + 3) / 4
	return func() { par.For(blocks, grain/4, body) }
}
