package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scoregen/scoregen/ckpt"
	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/grid"
	"github.com/scoregen/scoregen/sample"
)

// Flags that cannot make sense together, and files that are not samples,
// are one-line errors naming the flag or the file, before any data set or
// judge is loaded.
func TestRunRefusesBadFlags(t *testing.T) {
	dir := t.TempDir()
	flat := filepath.Join(dir, "flat.npy")
	if err := grid.WriteNPY(flat, make([]float32, 6), []int{2, 3}); err != nil {
		t.Fatal(err)
	}
	notNPY := filepath.Join(dir, "grid.png")
	if err := os.WriteFile(notNPY, []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		o     options
		given []string
		want  string
	}{
		{"nothing to score", options{}, nil, "one of --samples FILE.npy or --ckpt DIR"},
		{"both sources", options{samples: flat, draw: drawFrom("runs/x")}, nil, "one of --samples"},
		{"--bpd of samples", options{samples: flat, bpd: true}, nil, "--bpd scores a checkpoint"},
		{"--limit without --bpd", options{samples: flat, dataName: "mnist", limit: 10}, nil, "--limit"},
		{"samples without --data", options{samples: flat}, nil, "give --data"},
		{"a flat array", options{samples: flat, dataName: "mnist"}, nil, "N x C x H x W"},
		{"not a .npy", options{samples: notNPY, dataName: "mnist"}, nil, "not a .npy"},
		{"no checkpoint", options{draw: drawFrom(filepath.Join(dir, "none"))}, nil, filepath.Join(dir, "none")},
		{"--n with --bpd", options{draw: drawFrom(filepath.Join(dir, "none")), bpd: true}, []string{"n"}, "--n is for scoring samples"},
		{"--snr with --bpd", options{draw: drawFrom(filepath.Join(dir, "none")), bpd: true}, []string{"snr"}, "--snr is for scoring samples"},
		{"--guidance with --bpd", options{draw: drawFrom(filepath.Join(dir, "none")), bpd: true}, []string{"guidance"}, "--guidance is for scoring samples"},
		{"unknown --data", options{samples: flat, dataName: "cifar"}, nil, "--data"},
	} {
		err := run(c.o, func(flag string) bool { return slices.Contains(c.given, flag) })
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err = %v, want one line saying %q", c.name, err, c.want)
		}
	}
}

func drawFrom(ckpt string) (o sample.Options) {
	o.Ckpt = ckpt
	return o
}

// The JSON of a checkpoint's samples says how they were drawn: the flags
// where given, the checkpoint's config where not, pc's snr only for pc;
// samples from a file say nothing.
func TestSampledRecordsTheSampler(t *testing.T) {
	c := &ckpt.Checkpoint{RunMeta: ckpt.RunMeta{Config: &configs.Config{}}}
	c.Config.Sample.Sampler, c.Config.Sample.SNR = "pc", 0.25
	o := options{draw: sample.Options{Steps: 350, Seed: 2}}
	if got, want := *sampled(o, c), (sampledWith{Sampler: "pc", Steps: 350, SNR: 0.25, Seed: 2, EMA: true}); got != want {
		t.Errorf("the checkpoint's pc: %+v, want %+v", got, want)
	}
	o.draw.SNR, o.draw.NoEMA = 0.3, true
	if got := sampled(o, c); got.SNR != 0.3 || got.EMA {
		t.Errorf("--snr 0.3 --no-ema: %+v", *got)
	}
	o.draw.Sampler = "heun"
	if got := sampled(o, c); got.Sampler != "heun" || got.SNR != 0 {
		t.Errorf("--sampler heun: %+v", *got)
	}
	if sampled(o, nil) != nil {
		t.Error("samples from a file have a sampler")
	}
}
