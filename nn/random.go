package nn

import (
	"fmt"

	"github.com/pkg/errors"
	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/internal/par"
	"github.com/scoregen/scoregen/internal/philox"
)

// Random draws keyed by (rng.Seed, rng.Step, stream, element), as dropout's
// masks are: element i comes from lane i%4 of philox.Block(philox.Counter(
// i/4, stream, Step), philox.Key(Seed)). A compiled plan reads Step each
// run, so it draws anew every step without being rebuilt, and a resumed
// run draws what the uninterrupted one would have.

// maxRandomElements is the most elements one draw holds: the counter keeps
// the block index i/4 in 32 bits.
const maxRandomElements = 1 << 34

// keyed is what the random ops share.
type keyed struct {
	stream uint32
	rng    *RNG
}

// randomBase is base for ops whose output does not depend differentiably on
// their input: DiffWRT says so, and gorgonia skips them when it builds a
// backward graph, so that no gradient flows into the input through them.
// (Their true derivative is zero, so nothing is lost, unlike a backward op,
// which must keep base's DiffWRT: see gradBase.)
type randomBase struct{ base }

func (b *randomBase) DiffWRT(n int) []bool { return make([]bool, n) }

func (b *randomBase) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, errors.Errorf("nn: %s has no gradient (its input is not differentiable)", b.name)
}

func newKeyed(op string, x *gorgonia.Node, stream uint32, rng *RNG) (keyed, error) {
	if rng == nil {
		return keyed{}, fmt.Errorf("%s of shape %v: no RNG", op, x.Shape())
	}
	if n := x.Shape().TotalSize(); n > maxRandomElements {
		return keyed{}, fmt.Errorf("%s of shape %v: %d elements, more than one Philox draw holds (%d)", op, x.Shape(), n, maxRandomElements)
	}
	return keyed{stream, rng}, nil
}

// opName includes the stream: the name is the op's hash, and two draws on
// different streams must not be merged into one node.
func (k keyed) opName(op string) string { return fmt.Sprintf("%s(stream=%d)", op, k.stream) }

// normalLike is z ~ N(0, I) with x's shape; x's values are not read.
type normalLike struct {
	randomBase
	keyed
}

// NormalLike draws standard normal noise of x's shape (x's values are not
// read, and no gradient flows into x through it). Element i is the i-th
// normal of philox.NewNormals(rng.Seed, stream, rng.Step), the same numbers
// as the score-SDE noise and the GPU kernels draw; stream must differ
// between the random ops of a model so that their draws are independent.
func NormalLike(x *gorgonia.Node, stream uint32, rng *RNG) (*gorgonia.Node, error) {
	k, err := newKeyed("NormalLike", x, stream, rng)
	if err != nil {
		return nil, err
	}
	return apply(&normalLike{randomBase{newBase(k.opName("NormalLike"), x.Shape(), x)}, k}, x)
}

func (o *normalLike) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *normalLike) BindCPU(c *engine.Call[float32]) func()         { return bindNormalLike(o.keyed, c) }
func (o *normalLike) bind64(c *engine.Call[float64]) func()          { return bindNormalLike(o.keyed, c) }

func bindNormalLike[T engine.Float](k keyed, c *engine.Call[T]) func() {
	out, rng := c.Out.Data, k.rng
	body := func(lo, hi int) {
		g := philox.NewNormals(rng.Seed, k.stream, rng.Step)
		for i := lo; i < hi; i++ {
			out[i] = T(g.At(i))
		}
	}
	return func() { par.For(len(out), grain/4, body) }
}

// bernoulli is out_i = 1 if u_i < p_i else 0.
type bernoulli struct {
	randomBase
	keyed
}

// Bernoulli draws out_i = 1 with probability p_i, else 0 (so p_i <= 0
// gives 0 and p_i >= 1 gives 1): 1 where the uniform philox.Uniform24 of
// element i's word is below p_i, with the words keyed as dropout's. No
// gradient flows into p. It binarises images afresh each step.
func Bernoulli(p *gorgonia.Node, stream uint32, rng *RNG) (*gorgonia.Node, error) {
	k, err := newKeyed("Bernoulli", p, stream, rng)
	if err != nil {
		return nil, err
	}
	return apply(&bernoulli{randomBase{newBase(k.opName("Bernoulli"), p.Shape(), p)}, k}, p)
}

func (o *bernoulli) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *bernoulli) InPlace() int                                   { return 0 }
func (o *bernoulli) BindCPU(c *engine.Call[float32]) func()         { return bindBernoulli(o.keyed, c) }
func (o *bernoulli) bind64(c *engine.Call[float64]) func()          { return bindBernoulli(o.keyed, c) }

func bindBernoulli[T engine.Float](k keyed, c *engine.Call[T]) func() {
	out, p, rng := c.Out.Data, c.In[0].Data, k.rng
	n := len(out)
	// Block b is elements 4b..4b+3: one philox call gives their four lanes.
	body := func(lo, hi int) {
		key := philox.Key(rng.Seed)
		step := rng.Step
		for b := lo; b < hi; b++ {
			r := philox.Block(philox.Counter(b, k.stream, step), key)
			for l := range 4 {
				i := 4*b + l
				if i >= n {
					break
				}
				// The uniform is exact in float32 and float64, so the
				// test is the same on every backend.
				if philox.Uniform24(r[l]) < float64(p[i]) {
					out[i] = 1
				} else {
					out[i] = 0
				}
			}
		}
	}
	blocks := (n + 3) / 4
	return func() { par.For(blocks, grain/4, body) }
}
