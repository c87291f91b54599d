package gan

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/nn"
)

// BatchNorm as torch's BatchNorm2d: in training, per channel mean 0 and
// biased variance 1 before the affine map (which starts as the identity),
// and the batch's mean and unbiased variance recorded; in inference,
// (x - running_mean) / sqrt(running_var + eps).
func TestBatchNorm(t *testing.T) {
	const n, c, hw = 4, 3, 5
	rng := rand.New(rand.NewPCG(1, 2))
	xv := make([]float32, n*c*hw)
	for i := range xv {
		xv[i] = float32(3*rng.NormFloat64() + float64(i%(c*hw)/hw))
	}
	for _, train := range []bool{true, false} {
		g := gorgonia.NewGraph()
		l := &layers{Builder: nn.NewBuilder(g, 1, train)}
		x := input(g, "x", n*c, hw)
		x4 := l.Reshape("x4", x, tensor.Shape{n, c, 1, hw})
		y := l.batchNorm("bn", x4, train)
		if err := l.firstErr(); err != nil {
			t.Fatal(err)
		}
		outs := gorgonia.Nodes{y}
		if train {
			outs = append(outs, l.state[0].batch, l.state[1].batch)
		}
		p, err := engine.Compile(outs, engine.NewCPU())
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Write(x, xv); err != nil {
			t.Fatal(err)
		}
		rm, rv := []float32{0.5, -1, 2}, []float32{4, 0.25, 9}
		if !train {
			if err := p.Write(l.state[0].value, rm); err != nil {
				t.Fatal(err)
			}
			if err := p.Write(l.state[1].value, rv); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.Run(); err != nil {
			t.Fatal(err)
		}
		yv := make([]float32, len(xv))
		if err := p.Read(y, yv); err != nil {
			t.Fatal(err)
		}
		for ch := range c {
			var sum, sq float64
			for b := range n {
				for k := range hw {
					v := float64(xv[(b*c+ch)*hw+k])
					sum += v
					sq += v * v
				}
			}
			m := sum / (n * hw)
			v := sq/(n*hw) - m*m
			mean, variance := m, v
			if !train {
				mean, variance = float64(rm[ch]), float64(rv[ch])
			}
			for b := range n {
				for k := range hw {
					i := (b*c+ch)*hw + k
					want := (float64(xv[i]) - mean) / math.Sqrt(variance+bnEps)
					if math.Abs(float64(yv[i])-want) > 1e-4*(1+math.Abs(want)) {
						t.Fatalf("train %v, channel %d: y %v, want %v", train, ch, yv[i], want)
					}
				}
			}
			if train {
				got := make([]float32, c)
				if err := p.Read(outs[1], got); err != nil {
					t.Fatal(err)
				}
				if math.Abs(float64(got[ch])-m) > 1e-4*(1+math.Abs(m)) {
					t.Errorf("channel %d: batch mean %v, want %v", ch, got[ch], m)
				}
				if err := p.Read(outs[2], got); err != nil {
					t.Fatal(err)
				}
				if u := v * n * hw / (n*hw - 1); math.Abs(float64(got[ch])-u) > 1e-4*u {
					t.Errorf("channel %d: batch variance %v, want the unbiased %v", ch, got[ch], u)
				}
			}
		}
	}
}
