package nn

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/internal/par"
	"github.com/scoregen/scoregen/internal/philox"
)

// RNG is the random state shared by all dropout ops of a model. The trainer
// bumps Step once per step; kernels read it each time they run, so a
// compiled plan draws fresh masks without being rebuilt.
type RNG struct {
	Seed uint64
	Step uint64
}

// dropout is inverted dropout: each element is kept with probability 1-p and
// scaled by 1/(1-p), else zeroed. Element i keeps iff uniform24 of lane i%4
// of philox(counter (i/4, stream, low32(Step), high32(Step)), key Seed) is
// at least p. The mask is a pure function of (Seed, Step, stream, i): the
// backward pass recomputes it instead of storing it, and a GPU kernel can
// draw the same one.
type dropout struct {
	base
	drop
}

func (o *dropout) recomputed() op {
	c := *o
	c.base = o.base.recomputed()
	return &c
}

// drop is what the forward and backward ops share: both multiply by the
// same mask.
type drop struct {
	p      float64
	stream uint32
	rng    *RNG
}

// Dropout zeroes elements of x with probability p and scales the rest by
// 1/(1-p). stream must differ between the dropout layers of a model so that
// their masks are independent.
func Dropout(x *gorgonia.Node, p float64, stream uint32, rng *RNG) (*gorgonia.Node, error) {
	if !(p >= 0 && p < 1) {
		return nil, fmt.Errorf("Dropout of shape %v: p = %v is not in [0, 1)", x.Shape(), p)
	}
	if rng == nil {
		return nil, fmt.Errorf("Dropout of shape %v: no RNG", x.Shape())
	}
	if p == 0 {
		return x, nil
	}
	d := drop{p, stream, rng}
	return apply(&dropout{newBase(d.opName("Dropout"), x.Shape(), x), d}, x)
}

// opName includes p and stream: the name is the op's hash, and two dropout
// layers must not be merged into one.
func (d drop) opName(op string) string {
	return fmt.Sprintf("%s(p=%s,stream=%d)", op, fmtFloat(d.p), d.stream)
}

func (o *dropout) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *dropout) InPlace() int                                   { return 0 }
func (o *dropout) BindCPU(c *engine.Call[float32]) func()         { return bindDrop32(o.drop, c) }
func (o *dropout) bind64(c *engine.Call[float64]) func()          { return bindDrop(o.drop, c) }

func (o *dropout) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := forgetDerivs(in); err != nil {
		return nil, err
	}
	return o.drop.grad(grad)
}

// grad applies the mask and scale to grad: the gradient of dropout, and of
// dropoutGrad (a diagonal map, its own adjoint).
func (d drop) grad(grad *gorgonia.Node) (gorgonia.Nodes, error) {
	g, err := apply(&dropoutGrad{gradOf(d.opName("DropoutGrad"), grad.Shape(), grad), d}, grad)
	return gorgonia.Nodes{g}, err
}

// dropoutGrad applies the forward pass's mask and scale to grad.
type dropoutGrad struct {
	gradBase
	drop
}

func (o *dropoutGrad) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *dropoutGrad) InPlace() int                                   { return 0 }
func (o *dropoutGrad) BindCPU(c *engine.Call[float32]) func()         { return bindDrop32(o.drop, c) }
func (o *dropoutGrad) bind64(c *engine.Call[float64]) func()          { return bindDrop(o.drop, c) }

func (o *dropoutGrad) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := forgetDerivs(in); err != nil {
		return nil, err
	}
	return o.drop.grad(grad)
}

// dropThreshold is the keep test in integers: philox.Uniform24(r) = (r>>8)/2^24 is
// at least p iff r>>8 >= ceil(p*2^24) (p*2^24 is exact in float64).
func dropThreshold(p float64) uint32 { return uint32(math.Ceil(p * 0x1p24)) }

func bindDrop[T engine.Float](d drop, c *engine.Call[T]) func() {
	out, x := c.Out.Data, c.In[0].Data
	n, thr, scale, rng := len(x), dropThreshold(d.p), T(1/(1-d.p)), d.rng
	// Block b is elements 4b..4b+3: one philox call gives their four lanes.
	body := func(lo, hi int) {
		key := philox.Key(rng.Seed)
		step := rng.Step
		for b := lo; b < hi; b++ {
			r := philox.Block(philox.Counter(b, d.stream, step), key)
			for l := range 4 {
				i := 4*b + l
				if i >= n {
					break
				}
				if r[l]>>8 >= thr {
					out[i] = scale * x[i]
				} else {
					out[i] = 0
				}
			}
		}
	}
	blocks := (n + 3) / 4
	return func() { par.For(blocks, grain/4, body) }
}
