package gan

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/model"
	"github.com/scoregen/scoregen/nn"
	"github.com/scoregen/scoregen/optim"
)

// mlp is a small fully connected network for the low-dimensional tests:
// its weights are created once and apply may be called on several inputs
// (a critic's real, generated and interpolated batches).
type mlp struct {
	ws, bs []*gorgonia.Node
	act    nn.Act
	slope  float64
}

// newMLP makes the layers sizes[0] -> sizes[1] -> ... with act between
// them, initialised as PyTorch's Linear.
func newMLP(b *nn.Builder, prefix string, act nn.Act, slope float64, sizes ...int) *mlp {
	m := &mlp{act: act, slope: slope}
	for i := 1; i < len(sizes); i++ {
		bound := 1 / math.Sqrt(float64(sizes[i-1]))
		m.ws = append(m.ws, b.Param(prefix+".w"+string(rune('0'+i)), tensor.Shape{sizes[i], sizes[i-1]}, bound))
		m.bs = append(m.bs, b.Param(prefix+".b"+string(rune('0'+i)), tensor.Shape{sizes[i]}, bound))
	}
	return m
}

func (m *mlp) apply(x *gorgonia.Node) (*gorgonia.Node, error) {
	h := x
	for i := range m.ws {
		var err error
		if h, err = nn.Linear(h, m.ws[i], m.bs[i]); err != nil {
			return nil, err
		}
		if i < len(m.ws)-1 {
			if h, err = nn.Activate(h, m.act, m.slope); err != nil {
				return nil, err
			}
		}
	}
	return h, nil
}

// input is a float32 input node [rows, cols].
func input(g *gorgonia.ExprGraph, name string, rows, cols int) *gorgonia.Node {
	return gorgonia.NewTensor(g, tensor.Float32, 2, gorgonia.WithShape(rows, cols), gorgonia.WithName(name))
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func gauss(x, mu, sd float64) float64 {
	return math.Exp(-0.5*(x-mu)*(x-mu)/(sd*sd)) / (sd * math.Sqrt(2*math.Pi))
}

// The discriminator trained alone with the minimax loss against a fixed
// generator reaches the optimum of Goodfellow et al. 2014 (proposition 1),
// D*(x) = p_data(x) / (p_data(x) + p_g(x)), here with p_data = N(0, 1) and
// p_g = N(1, 0.5^2), whose ratio is not a logistic function of x alone.
func TestDiscriminatorReachesTheOptimum(t *testing.T) {
	const batch, grid = 512, 46
	g := gorgonia.NewGraph()
	b := nn.NewBuilder(g, 1, true)
	x := input(g, "x", batch, 1)
	noise, err := nn.NormalLike(filled(g, "z.shape", tensor.Float32, tensor.Shape{batch, 1}, 0), StreamLatent, b.RNG)
	if err != nil {
		t.Fatal(err)
	}
	fake, err := nn.Scale(noise, 0.5)
	if err == nil {
		fake, err = nn.Binary(nn.Add, fake, filled(g, "one", tensor.Float32, tensor.Shape{1, 1}, 1))
	}
	if err != nil {
		t.Fatal(err)
	}
	d := newMLP(b, "d", nn.LeakyReLU, leakySlope, 1, 64, 64, 1)
	gm, err := newGame(Minimax, 0, d.apply, x, fake, b.RNG)
	if err != nil {
		t.Fatal(err)
	}
	xs := input(g, "grid", grid, 1)
	logits, err := d.apply(xs)
	if err != nil {
		t.Fatal(err)
	}
	tg := &model.TrainGraph{G: g, X: x, RNG: b.RNG,
		Groups:  []model.Group{{Name: "d", Params: b.Params, Optim: optim.Settings{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}}},
		Updates: []model.Update{{Name: "d", Loss: gm.lossD, Data: true}},
	}
	tr := newTestTrainer(t, tg, gorgonia.Nodes{logits})
	rng := rand.New(rand.NewPCG(5, 6))
	real := func(x []float32) {
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
	}
	for range 1500 {
		tr.step(t, real)
	}
	gridX := make([]float32, grid)
	for i := range gridX {
		gridX[i] = -2 + 0.1*float32(i) // -2 .. 2.5
	}
	if err := tr.plans[1].Write(xs, gridX); err != nil {
		t.Fatal(err)
	}
	if err := tr.plans[1].Run(); err != nil {
		t.Fatal(err)
	}
	got := tr.read(t, 1, logits)
	worst := 0.0
	for i, xv := range gridX {
		pd, pg := gauss(float64(xv), 0, 1), gauss(float64(xv), 1, 0.5)
		want := pd / (pd + pg)
		if e := math.Abs(sigmoid(float64(got[i])) - want); e > worst {
			worst = e
		}
		t.Logf("x %5.2f: D %.3f, D* %.3f", xv, sigmoid(float64(got[i])), want)
	}
	if worst > 0.05 {
		t.Fatalf("D is %.3f from D* at worst on [-2, 2.5]; want within 0.05", worst)
	}
}

// ringModes are the centres of the ring of 8 Gaussians (radius 2).
func ringModes() [8][2]float64 {
	var m [8][2]float64
	for k := range m {
		a := 2 * math.Pi * float64(k) / 8
		m[k] = [2]float64{2 * math.Cos(a), 2 * math.Sin(a)}
	}
	return m
}

// trainRing trains a small MLP generator against an MLP discriminator on
// the ring of 8 Gaussians (sd 0.05) with loss kind, and returns how many
// of 2048 generated points lie within 0.25 (five sd) of each mode, and how
// many near none.
func trainRing(t *testing.T, kind string, steps, nCritic int, lambda float64, opt optim.Settings) (near [8]int, off int) {
	t.Helper()
	const batch, latent, hidden, sd = 256, 8, 128, 0.05
	g := gorgonia.NewGraph()
	b := nn.NewBuilder(g, 3, true)
	x := input(g, "x", batch, 2)
	z, err := nn.NormalLike(filled(g, "z.shape", tensor.Float32, tensor.Shape{batch, latent}, 0), StreamLatent, b.RNG)
	if err != nil {
		t.Fatal(err)
	}
	gen := newMLP(b, "g", nn.ReLU, 0, latent, hidden, hidden, 2)
	fake, err := gen.apply(z)
	if err != nil {
		t.Fatal(err)
	}
	nG := len(b.Params)
	d := newMLP(b, "d", nn.LeakyReLU, leakySlope, 2, hidden, hidden, 1)
	gm, err := newGame(kind, lambda, d.apply, x, fake, b.RNG)
	if err != nil {
		t.Fatal(err)
	}
	tg := &model.TrainGraph{G: g, X: x, RNG: b.RNG,
		Groups: []model.Group{
			{Name: "d", Params: b.Params[nG:], Optim: opt},
			{Name: "g", Params: b.Params[:nG], Optim: opt},
		},
		Updates: []model.Update{
			{Name: "d", Group: 0, Loss: gm.lossD, Repeat: nCritic, Data: true},
			{Name: "g", Group: 1, Loss: gm.lossG},
		},
	}
	tr := newTestTrainer(t, tg, gorgonia.Nodes{fake})
	modes := ringModes()
	rng := rand.New(rand.NewPCG(7, 8))
	real := func(x []float32) {
		for i := 0; i < len(x); i += 2 {
			m := modes[rng.IntN(8)]
			x[i] = float32(m[0] + sd*rng.NormFloat64())
			x[i+1] = float32(m[1] + sd*rng.NormFloat64())
		}
	}
	var losses []float64
	for s := range steps {
		losses = tr.step(t, real)
		if s%500 == 0 {
			t.Logf("step %d: losses %v", s, losses)
		}
	}
	for range 8 {
		tr.tg.RNG.Step = tr.key
		tr.key++
		if err := tr.plans[2].Run(); err != nil {
			t.Fatal(err)
		}
		pts := tr.read(t, 2, fake)
		for i := 0; i < len(pts); i += 2 {
			best, k := math.Inf(1), 0
			for j, m := range modes {
				if d := math.Hypot(float64(pts[i])-m[0], float64(pts[i+1])-m[1]); d < best {
					best, k = d, j
				}
			}
			if best < 5*sd {
				near[k]++
			} else {
				off++
			}
		}
	}
	t.Logf("%s: points near each mode %v, near none %d", kind, near, off)
	return near, off
}

// assertModesCovered: at least 7 of the 8 modes get 2% of the points, none
// more than 30%, and at least half of all points lie near a mode.
func assertModesCovered(t *testing.T, near [8]int, off int) {
	t.Helper()
	total := off
	for _, n := range near {
		total += n
	}
	covered := 0
	for k, n := range near {
		if n >= total/50 {
			covered++
		}
		if n > total*3/10 {
			t.Errorf("mode %d takes %d of %d points, more than 30%%", k, n, total)
		}
	}
	if covered < 7 {
		t.Errorf("%d of 8 modes covered (%v); want at least 7", covered, near)
	}
	if off > total/2 {
		t.Errorf("%d of %d points are near no mode", off, total)
	}
}

func TestNonSaturatingGANCoversTheRing(t *testing.T) {
	near, off := trainRing(t, NonSaturating, 2000, 1, 0, optim.Settings{LR: 1e-3, Beta1: 0.5, Beta2: 0.999, Eps: 1e-8})
	assertModesCovered(t, near, off)
}

func TestWGANGPCoversTheRing(t *testing.T) {
	near, off := trainRing(t, WGANGP, 800, 5, 0.1, optim.Settings{LR: 1e-3, Beta1: 0.5, Beta2: 0.9, Eps: 1e-8})
	assertModesCovered(t, near, off)
}
