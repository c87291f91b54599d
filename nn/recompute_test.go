package nn

import (
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/engine"
)

// A convolution whose input is GroupNorm+SiLU (then dropout) recomputes
// that input for its weight gradient: the gradients are those of the
// graph (checkOp against finite differences, through the recomputed ops),
// and the plan keeps one activation fewer than the same network whose
// convolution reads a value that cannot be recomputed (a Scale after the
// dropout), because the engine runs the recomputation late.
func TestConvInputIsRecomputedLate(t *testing.T) {
	rng := &RNG{Seed: 3, Step: 1}
	// Two blocks, so that the first block's convolution input would live
	// through the second block's forward and backward passes.
	block := func(x, gamma, beta, w *gorgonia.Node, stream uint32, scaled bool) (*gorgonia.Node, error) {
		h, err := GroupNorm(x, gamma, beta, 4, 1e-6, SiLU)
		if err == nil {
			h, err = Dropout(h, 0.2, stream, rng)
		}
		if err == nil && scaled {
			h, err = Scale(h, 1.5)
		}
		if err != nil {
			return nil, err
		}
		return Conv2d(h, w, nil, 1, 1)
	}
	net := func(scaled bool) graphFn {
		return func(in []*gorgonia.Node) (*gorgonia.Node, error) {
			h, err := block(in[0], in[1], in[2], in[3], 1, scaled)
			if err != nil {
				return nil, err
			}
			return block(h, in[4], in[5], in[6], 2, scaled)
		}
	}
	shapes := []tensor.Shape{{2, 8, 6, 6}, {8}, {8}, {8, 8, 3, 3}, {8}, {8}, {8, 8, 3, 3}}
	checkOp(t, shapes, net(false))

	bytes := map[bool]int64{}
	for _, scaled := range []bool{false, true} {
		g := gorgonia.NewGraph()
		var in gorgonia.Nodes
		for i, sh := range shapes {
			in = append(in, gorgonia.NewTensor(g, tensor.Float32, sh.Dims(), gorgonia.WithShape(sh...),
				gorgonia.WithName(string(rune('a'+i))), gorgonia.WithInit(gorgonia.GlorotU(1))))
		}
		out, err := net(scaled)(in)
		if err != nil {
			t.Fatal(err)
		}
		cost, err := Mean(out)
		if err != nil {
			t.Fatal(err)
		}
		grads, err := gorgonia.Grad(cost, in...)
		if err != nil {
			t.Fatal(err)
		}
		p, err := engine.Compile(append(gorgonia.Nodes{cost}, grads...), engine.NewCPU())
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Run(); err != nil {
			t.Fatal(err)
		}
		bytes[scaled] = p.Bytes()
	}
	activation := int64(4 * shapes[0].TotalSize())
	if saved := bytes[true] - bytes[false]; saved < activation {
		t.Errorf("plan %d bytes with the recomputed input, %d without: want at least one activation (%d bytes) less", bytes[false], bytes[true], activation)
	}
}
