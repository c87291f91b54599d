//go:build gpu

package score

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/internal/numdiff"
)

// tinyConfig is mnist_tiny shrunk so that the network is quick.
func tinyConfig(t *testing.T) *configs.Config {
	t.Helper()
	cfg, err := configs.Load("mnist_tiny.yaml", []string{"model.ch=8", "model.mult=[1, 2]"})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// The score network and the samplers on the GPU (fused: Euler-Maruyama,
// with the Langevin corrector, ode-euler, heun, ancestral, DDIM and, for
// VE, annealed Langevin) match
// the CPU's: the score within 1e-5,
// the samples after a few steps (the same Philox noise) within 1e-4,
// relative to their largest magnitude.
func TestGPUSamplerMatchesCPU(t *testing.T) {
	cfg := tinyConfig(t)
	netCfg, err := NetConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSDE(cfg.SDE)
	if err != nil {
		t.Fatal(err)
	}
	veCfg := cfg.SDE
	veCfg.Type = "ve"
	ve, err := NewSDE(veCfg)
	if err != nil {
		t.Fatal(err)
	}
	const batch = 3
	models := map[string]*ScoreModel{}
	for _, dev := range []string{"cpu", "cuda"} {
		m, err := NewScoreModel(netCfg, s, batch, dev, cfg.GPU)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.Close)
		models[dev] = m
	}
	x := make([]float32, batch*models["cpu"].Dim)
	for i := range x {
		x[i] = float32(math.Sin(float64(i)))
	}
	tt := []float32{0.9, 0.5, 0.01}
	scores := map[string][]float32{}
	for dev, m := range models {
		scores[dev] = make([]float32, len(x))
		if err := m.Score(x, tt, scores[dev]); err != nil {
			t.Fatal(err)
		}
	}
	numdiff.Compare(t, "score", []string{"of x"}, [][]float32{scores["cuda"]}, [][]float32{scores["cpu"]}, 1e-5)
	// Images 0-2 of the run, and images 1000-1002, whose noise is drawn
	// further along the same Philox draws.
	// The same network read as a flow's velocity samples by ode-euler and
	// heun too, and read as VE's by annealed Langevin.
	for _, sampler := range []string{"em", "pc", "ode-euler", "heun", "ancestral", "ddim", "flow ode-euler", "flow heun", "ve annealed-langevin"} {
		kind, name, found := strings.Cut(sampler, " ")
		if !found {
			kind, name = "", sampler
		}
		for _, first := range []int{0, 1000} {
			sc := cfg.Sample
			sc.Sampler, sc.Steps = name, 5
			samples := map[string][]float32{}
			for dev, m := range models {
				samples[dev] = make([]float32, len(x))
				m.Sample, m.flow, m.sde = sc, kind == "flow", s
				if kind == "ve" {
					m.sde = ve
				}
				if err := m.SampleAt(first, samples[dev], nil); err != nil {
					t.Fatal(err)
				}
			}
			numdiff.Compare(t, sampler, []string{fmt.Sprintf("samples %d-%d after %d steps", first, first+batch-1, sc.Steps)},
				[][]float32{samples["cuda"]}, [][]float32{samples["cpu"]}, 1e-4)
		}
	}
	// Score after sampling evaluates the network alone again.
	again := make([]float32, len(x))
	if err := models["cuda"].Score(x, tt, again); err != nil {
		t.Fatal(err)
	}
	numdiff.Compare(t, "score", []string{"after sampling, against before"}, [][]float32{again}, [][]float32{scores["cuda"]}, 0)
}
