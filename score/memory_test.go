package score

import (
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/data"
	"github.com/scoregen/scoregen/train"
	"github.com/scoregen/scoregen/unet"
)

func loadConfig(t *testing.T, sets ...string) (*configs.Config, unet.Config) {
	t.Helper()
	cfg, err := configs.Load("", sets)
	if err != nil {
		t.Fatal(err)
	}
	netCfg, err := NetConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, netCfg
}

// sizes are the "needs X GiB ... has Y GiB" figures of a memory error.
var sizes = regexp.MustCompile(`needs \d+\.\d GiB of host memory .*has \d+\.\d GiB available: lower `)

// The three sizes of issue 10 that ended in the runtime's out-of-memory
// trace are one-line errors naming what to lower, found without
// allocating more than the check's own small graph.
func TestTooLargeIsOneLineError(t *testing.T) {
	for _, c := range []struct {
		name  string
		check func() error
		lower string
	}{
		{"data.batch_size=100000000", func() error {
			cfg, netCfg := loadConfig(t, "data.batch_size=100000000")
			return CheckTraining(netCfg, cfg)
		}, "lower data.batch_size"},
		{"model.ch=100000", func() error {
			cfg, netCfg := loadConfig(t, "model.ch=100000")
			return CheckTraining(netCfg, cfg)
		}, "lower model.ch"},
		{"sampling 100000000 images", func() error {
			_, netCfg := loadConfig(t)
			return CheckSampling(netCfg, 100000000, "cpu", "--batch")
		}, "lower --batch"},
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err := c.check()
		runtime.ReadMemStats(&after)
		if err == nil || strings.Contains(err.Error(), "\n") || !sizes.MatchString(err.Error()) || !strings.HasSuffix(err.Error(), c.lower) {
			t.Errorf("%s: err = %v, want one line with both sizes ending %q", c.name, err, c.lower)
		}
		if got := after.TotalAlloc - before.TotalAlloc; got > 256<<20 {
			t.Errorf("%s: the check allocated %d MiB", c.name, got>>20)
		}
	}
}

// Sane sizes pass, and the estimate's plan is the plan New compiles.
func TestEstimateMatchesTheCompiledPlan(t *testing.T) {
	cfg, netCfg := loadConfig(t, "model.ch=16", "model.num_res_blocks=1", "data.batch_size=4")
	if err := CheckTraining(netCfg, cfg); err != nil {
		t.Fatal(err)
	}
	m, err := TrainingMemory(netCfg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	blank := &data.Dataset{Name: "mnist", N: 8, C: 1, H: 28, W: 28, Pixels: make([]uint8, 8*28*28), Labels: make([]uint8, 8)}
	tr, err := train.New(f, cfg, blank, train.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	plan, _ := tr.Memory()
	if m.Plan != plan {
		t.Fatalf("estimated plan %d bytes, compiled %d", m.Plan, plan)
	}
	p := 4 * netCfg.ParamCount()
	if m.Host < m.Plan+4*p || m.Fixed != 6*p {
		t.Fatalf("host %d bytes, fixed %d, for a plan of %d and %d bytes of weights", m.Host, m.Fixed, m.Plan, p)
	}
	s, err := SamplingMemory(netCfg, 4, "cpu")
	if err != nil {
		t.Fatal(err)
	}
	if s.Plan >= m.Plan || s.Plan <= p || s.Fixed != 3*p {
		t.Fatalf("sampling plan %d bytes, fixed %d, training plan %d, weights %d", s.Plan, s.Fixed, m.Plan, p)
	}
}

// Near the limit on the CPU, the error names model.ch when the copies of
// the weights alone do not fit (six in training: the builder's, the plan's
// weights and gradients, Adam's moments and the EMA; three in sampling:
// the builder's, the checkpoint's and the plan's), and the batch key when
// the batch is what does not fit: a batch of one would.
func TestLowerWhatCannotFit(t *testing.T) {
	const batch = 64
	estimate := func(batch int) (Memory, Memory) {
		cfg, netCfg := loadConfig(t, "model.ch=16", "model.num_res_blocks=1", fmt.Sprintf("data.batch_size=%d", batch))
		m, err := TrainingMemory(netCfg, cfg)
		if err != nil {
			t.Fatal(err)
		}
		s, err := SamplingMemory(netCfg, batch, "cpu")
		if err != nil {
			t.Fatal(err)
		}
		return m, s
	}
	train, sample := estimate(batch)
	train1, sample1 := estimate(1)
	_, netCfg := loadConfig(t, "model.ch=16", "model.num_res_blocks=1")
	p := 4 * netCfg.ParamCount()
	for _, c := range []struct {
		name           string
		m              Memory
		have           int64
		batchKey, want string
	}{
		{"training, weights", train, 6*p - 1, "data.batch_size", "lower model.ch"},
		{"training, batch", train, train1.Host, "data.batch_size", "lower data.batch_size"},
		{"sampling, weights", sample, 3*p - 1, "--batch", "lower model.ch"},
		{"sampling, batch", sample, sample1.Host, "--batch", "lower --batch"},
	} {
		err := c.m.fits("host", c.m.Host, c.have, true, c.batchKey)
		if err == nil || !strings.HasSuffix(err.Error(), c.want) {
			t.Errorf("%s: %d of %d bytes available: err = %v, want it to end %q", c.name, c.have, c.m.Host, err, c.want)
		}
	}
}

// A network with too many weights to build for measuring (too wide, or
// narrow with large mults) is measured at a narrower width and scaled, or
// with none narrow enough, estimated from its parameter count. Either way
// the check allocates little and the plan holds at least the weights.
func TestLargeNetworkIsProbedNarrower(t *testing.T) {
	for _, c := range []struct {
		sets     []string
		minScale float64 // 0: no probe
	}{
		{[]string{"model.ch=4096"}, 2},
		{[]string{"model.ch=64", "model.mult=[1,2,16]"}, 2},
		{[]string{"model.ch=64", "model.mult=[1,16,16]"}, 0},
	} {
		_, netCfg := loadConfig(t, c.sets...)
		probe, scale, ok := probeConfig(netCfg)
		if ok != (c.minScale > 0) || ok && (probe.ParamCount() > probeParams || probe.Ch > netCfg.Ch || scale < c.minScale) {
			t.Errorf("%v: probe ch %d, %d parameters, scale %v, ok %v", c.sets, probe.Ch, probe.ParamCount(), scale, ok)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		m, err := SamplingMemory(netCfg, 2, "cpu")
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		if got := after.TotalAlloc - before.TotalAlloc; got > 256<<20 {
			t.Errorf("%v: the estimate allocated %d MiB", c.sets, got>>20)
		}
		if weights := 4 * netCfg.ParamCount(); m.Plan < weights || ok && m.Plan == weights {
			t.Errorf("%v: plan %d bytes for %d bytes of weights", c.sets, m.Plan, weights)
		}
	}
}

func TestUnknownDevice(t *testing.T) {
	_, netCfg := loadConfig(t)
	if _, err := SamplingMemory(netCfg, 1, "tpu"); err == nil || !strings.Contains(err.Error(), `device "tpu"`) {
		t.Fatalf("err = %v", err)
	}
}
