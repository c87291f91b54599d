package nn

import (
	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/internal/par"
	"github.com/scoregen/scoregen/internal/philox"
)

// uniformLike is U[0, 1) noise of its input's shape, drawn as the other
// random ops (random.go): element i is philox.Uniform24 of lane i%4 of
// philox.Block(philox.Counter(i/4, stream, Step), philox.Key(Seed)). The
// input gives only the shape.
type uniformLike struct {
	randomBase
	keyed
}

// UniformLike is noise uniform in [0, 1) with x's shape, a pure function of
// (rng.Seed, rng.Step, stream, element), so that a plan draws fresh noise
// each step without being rebuilt and a GPU kernel draws the same numbers.
// No gradient flows into x through it. stream must differ from those of
// the model's other random ops under the same RNG.
func UniformLike(x *gorgonia.Node, stream uint32, rng *RNG) (*gorgonia.Node, error) {
	k, err := newKeyed("UniformLike", x, stream, rng)
	if err != nil {
		return nil, err
	}
	return apply(&uniformLike{randomBase{newBase(k.opName("UniformLike"), x.Shape(), x)}, k}, x)
}

func (o *uniformLike) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *uniformLike) BindCPU(c *engine.Call[float32]) func()         { return bindUniformLike(o.keyed, c) }
func (o *uniformLike) bind64(c *engine.Call[float64]) func()          { return bindUniformLike(o.keyed, c) }

func bindUniformLike[T engine.Float](k keyed, c *engine.Call[T]) func() {
	out, n, rng := c.Out.Data, len(c.Out.Data), k.rng
	// Block b is elements 4b..4b+3: one philox call gives their four lanes.
	body := func(lo, hi int) {
		key := philox.Key(rng.Seed)
		step := rng.Step
		for b := lo; b < hi; b++ {
			r := philox.Block(philox.Counter(b, k.stream, step), key)
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
