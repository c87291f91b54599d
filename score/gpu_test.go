//go:build gpu

package score

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/internal/numdiff"
	"github.com/scoregen/scoregen/sde"
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
// VE, annealed Langevin; consistency sampling in 2 steps) match
// the CPU's: the score within 1e-5,
// the samples after a few steps (the same Philox noise) within 1e-4,
// relative to their largest magnitude.
func TestGPUSamplerMatchesCPU(t *testing.T) {
	cfg := tinyConfig(t)
	s, err := NewSDE(cfg.SDE)
	if err != nil {
		t.Fatal(err)
	}
	veCfg, err := configs.Load("mnist_tiny.yaml", []string{"sde.type=ve"}) // and its sigma_max for MNIST
	if err != nil {
		t.Fatal(err)
	}
	ve, err := NewSDE(veCfg.SDE)
	if err != nil {
		t.Fatal(err)
	}
	ctCfg, err := configs.Load("mnist_tiny.yaml", []string{"model.objective=consistency", "sample.sampler=consistency"})
	if err != nil {
		t.Fatal(err)
	}
	ct, err := NewConsistency(ctCfg.Consistency)
	if err != nil {
		t.Fatal(err)
	}
	const batch = 3
	models := cpuAndGPU(t, cfg, s, batch)
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
	// The same network read as a flow's velocity samples by ode-euler and
	// heun too, read as VE's by annealed Langevin, and as a consistency
	// model's F by consistency sampling.
	for _, sampler := range []string{"em", "pc", "ode-euler", "heun", "ancestral", "ddim", "flow ode-euler", "flow heun", "ve annealed-langevin", "ct consistency"} {
		kind, name, found := strings.Cut(sampler, " ")
		if !found {
			kind, name = "", sampler
		}
		sc := cfg.Sample
		sc.Sampler, sc.Steps = name, 5
		if kind == "ct" {
			sc.Steps = 2
		}
		compareSamples(t, sampler, models, func(m *ScoreModel) {
			m.Sample, m.flow, m.sde, m.ct = sc, kind == "flow", s, nil
			switch kind {
			case "ve":
				m.sde = ve
			case "ct":
				m.ct = ct
			}
		})
	}
	// Score after sampling evaluates the network alone again.
	again := make([]float32, len(x))
	if err := models["cuda"].Score(x, tt, again); err != nil {
		t.Fatal(err)
	}
	numdiff.Compare(t, "score", []string{"after sampling, against before"}, [][]float32{again}, [][]float32{scores["cuda"]}, 0)
}

// A class-conditional network samples on the GPU as on the CPU: fused with
// its labels (one class, or one per image), unconditionally, and through
// the host with classifier-free guidance.
func TestGPUConditionalSamplerMatchesCPU(t *testing.T) {
	cfg, err := configs.Load("mnist_tiny.yaml", []string{"model.ch=8", "model.mult=[1, 2]", "model.num_classes=10", "sample.n=6"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSDE(cfg.SDE)
	if err != nil {
		t.Fatal(err)
	}
	models := cpuAndGPU(t, cfg, s, 3)
	for _, c := range []struct {
		name          string
		class         int
		guidance      float64
		unconditional bool
	}{{"class 7", 7, 0, false}, {"class by index", -1, 0, false}, {"unconditional", 3, 0, true}, {"guidance 1.5", -1, 1.5, false}} {
		for _, sampler := range []string{"pc", "ddim"} {
			sc := cfg.Sample
			sc.Sampler, sc.Steps, sc.Class, sc.Guidance = sampler, 4, c.class, c.guidance
			compareSamples(t, c.name+", "+sampler, models, func(m *ScoreModel) { m.Sample, m.Unconditional = sc, c.unconditional })
		}
	}
}

// cpuAndGPU compiles cfg's network for batches of batch on the CPU and the
// GPU, with the same weights: the initial ones plus noise of std 0.05, so
// that the network's output (whose last convolution starts near zero) and
// its labels weigh in the samples.
func cpuAndGPU(t *testing.T, cfg *configs.Config, s sde.SDE, batch int) map[string]*ScoreModel {
	t.Helper()
	netCfg, err := NetConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	models := map[string]*ScoreModel{}
	for _, dev := range []string{"cpu", "cuda"} {
		m, err := NewScoreModel(netCfg, s, batch, dev, cfg.GPU)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.Close)
		models[dev] = m
	}
	rng := rand.New(rand.NewPCG(3, 4))
	cpu := models["cpu"]
	weights := make([][]float32, len(cpu.Params()))
	for i, p := range cpu.Params() {
		weights[i] = make([]float32, p.Shape().TotalSize())
		if err := cpu.plan.Read(p, weights[i]); err != nil {
			t.Fatal(err)
		}
		for j := range weights[i] {
			weights[i][j] += float32(0.05 * rng.NormFloat64())
		}
	}
	for _, m := range models {
		if err := m.SetWeights(weights); err != nil {
			t.Fatal(err)
		}
	}
	return models
}

// compareSamples draws images 0 to batch-1 of a run, and images 1000 on,
// whose noise is drawn further along the same Philox draws, with each of
// models after set, and compares the GPU's with the CPU's within 1e-4 of
// their largest magnitude.
func compareSamples(t *testing.T, name string, models map[string]*ScoreModel, set func(m *ScoreModel)) {
	t.Helper()
	for _, first := range []int{0, 1000} {
		samples := map[string][]float32{}
		for dev, m := range models {
			set(m)
			samples[dev] = make([]float32, m.batch*m.Dim)
			if err := m.SampleAt(first, samples[dev], nil); err != nil {
				t.Fatal(err)
			}
		}
		m := models["cpu"]
		numdiff.Compare(t, name, []string{fmt.Sprintf("samples %d-%d after %d steps", first, first+m.batch-1, m.Sample.Steps)},
			[][]float32{samples["cuda"]}, [][]float32{samples["cpu"]}, 1e-4)
	}
}
