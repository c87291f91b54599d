package nn

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func sinusoidalOf(dim int, scale float64) graphFn {
	return func(in []*gorgonia.Node) (*gorgonia.Node, error) { return Sinusoidal(in[0], dim, scale) }
}

func TestSinusoidalGradient(t *testing.T) {
	for _, c := range []struct {
		b, dim int
		scale  float64
	}{{5, 6, 1}, {3, 10, 10}, {1, 4, 0.5}} {
		t.Run(fmt.Sprint(c), func(t *testing.T) {
			checkOp(t, []tensor.Shape{{c.b}}, sinusoidalOf(c.dim, c.scale))
		})
	}
}

// TestSinusoidalAgainstScoreSDE compares with score_sde's
// get_timestep_embedding written out in float64:
//
//	half_dim = dim // 2
//	emb = log(10000) / (half_dim - 1)
//	emb = exp(arange(half_dim) * -emb)
//	emb = timesteps[:, None] * emb[None, :]
//	emb = cat([sin(emb), cos(emb)], dim=1)
//
// with timesteps = scale * t.
func TestSinusoidalAgainstScoreSDE(t *testing.T) {
	const dim, scale = 16, 1000.0
	ts := []float64{0, 1e-3, 0.25, 0.5, 0.999, 1}
	half := dim / 2
	emb := math.Log(10000) / float64(half-1)
	want := make([]float64, 0, len(ts)*dim)
	for _, tv := range ts {
		row := make([]float64, dim)
		for k := range half {
			a := scale * tv * math.Exp(float64(k)*-emb)
			row[k], row[half+k] = math.Sin(a), math.Cos(a)
		}
		want = append(want, row...)
	}
	got := evalOn(t, sinusoidalOf(dim, scale), tensor.New(tensor.WithShape(len(ts)), tensor.WithBacking(ts)))
	assertClose(t, "Sinusoidal", got, want, 1e-12)
}

// TestSinusoidalAgainstGorgonia builds the embedding from gorgonia's
// built-ins: the outer product t * freqs as a [B,1] x [1,half] matrix
// product, then sin and cos concatenated.
func TestSinusoidalAgainstGorgonia(t *testing.T) {
	const dim, scale = 10, 3.0
	freqs := sinusoidalFreqs(dim, scale)
	checkAgainst(t, tensor.Float64, []tensor.Shape{{5}}, sinusoidalOf(dim, scale), func(in []*gorgonia.Node) (*gorgonia.Node, error) {
		tc, err := gorgonia.Reshape(in[0], tensor.Shape{5, 1})
		if err != nil {
			return nil, err
		}
		f := gorgonia.NewConstant(tensor.New(tensor.WithShape(1, dim/2), tensor.WithBacking(freqs)))
		arg, err := gorgonia.Mul(tc, f)
		if err != nil {
			return nil, err
		}
		s, err := gorgonia.Sin(arg)
		if err != nil {
			return nil, err
		}
		c, err := gorgonia.Cos(arg)
		if err != nil {
			return nil, err
		}
		return gorgonia.Concat(1, s, c)
	}, 1e-12)
}

func TestSinusoidalRejectsBadArguments(t *testing.T) {
	g := gorgonia.NewGraph()
	t1 := gorgonia.NewTensor(g, tensor.Float32, 1, gorgonia.WithShape(7), gorgonia.WithName("t1"))
	t2 := gorgonia.NewTensor(g, tensor.Float32, 2, gorgonia.WithShape(7, 1), gorgonia.WithName("t2"))
	for _, c := range []struct {
		t   *gorgonia.Node
		dim int
	}{{t2, 8}, {t1, 7}, {t1, 2}} {
		if _, err := Sinusoidal(c.t, c.dim, 1); err == nil || !strings.Contains(err.Error(), fmt.Sprint(c.t.Shape())) {
			t.Errorf("Sinusoidal(%v, %d): error %v, want one naming the shape", c.t.Shape(), c.dim, err)
		}
	}
}

func TestSinusoidalKernelsDoNotAllocate(t *testing.T) {
	b, y := tensor.Shape{128}, tensor.Shape{128, 256}
	assertNoAllocs(t, "forward", bindRandom(&sinusoidal{dim: 256, scale: 1000}, y, b))
	assertNoAllocs(t, "grad", bindRandom(&sinusoidalGrad{dim: 256, scale: 1000}, b, b, y))
}
