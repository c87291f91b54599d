package hostemu

import (
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/nn"
)

func TestDiscLogisticKernelsMatchTheCPUOp(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 13))
	const n = 300
	x, m, ls := make([]float32, n), randn(rng, n), randn(rng, n)
	for i := range x {
		x[i] = float32(rng.IntN(256))/127.5 - 1 // 8-bit data, both edge bins included
	}
	x[0], x[1] = -1, 1
	for i := range ls {
		ls[i] = 2*ls[i] - 2 // scales from far below a bin to far above
	}
	y, dy, grads := gradients(t, func(g *gorgonia.ExprGraph) (*gorgonia.Node, []*gorgonia.Node) {
		xn, mn, lsn := input(g, "x", n), input(g, "m", n), input(g, "ls", n)
		y, err := nn.DiscLogisticNLL(xn, mn, lsn)
		if err != nil {
			t.Fatal(err)
		}
		return y, []*gorgonia.Node{mn, lsn, xn}
	}, [][]float32{m, ls, x}, func(k int) []float32 { return randn(rng, k) })
	got, dm, dls := make([]float32, n), make([]float32, n), make([]float32, n)
	DiscLogisticFwd(got, x, m, ls)
	DiscLogisticBwd(dm, x, m, ls, dy, 1)
	DiscLogisticBwd(dls, x, m, ls, dy, 2)
	assertClose(t, "-log P", got, y, 1e-6)
	assertClose(t, "derivative by the mean", dm, grads[0], 1e-6)
	assertClose(t, "derivative by the log-scale", dls, grads[1], 1e-6)
}
