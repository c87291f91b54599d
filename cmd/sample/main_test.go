package main

import (
	"context"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/data"
	"github.com/scoregen/scoregen/train"
)

// trainTiny leaves a checkpoint of a very small network in a new folder.
func trainTiny(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cfg, err := configs.Load("mnist_tiny.yaml", []string{"model.ch=8", "model.mult=[1, 2]", "data.batch_size=4",
		"train.steps=3", "train.sample_every=0", "train.out_dir=" + dir})
	if err != nil {
		t.Fatal(err)
	}
	ds := &data.Dataset{Name: "mnist", N: 8, C: 1, H: 28, W: 28, Pixels: make([]uint8, 8*784), Labels: make([]uint8, 8)}
	for i := range ds.Pixels {
		ds.Pixels[i] = uint8(i * 7)
	}
	tr, err := train.New(cfg, ds, train.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return dir
}

func command() *cobra.Command {
	cmd := &cobra.Command{}
	cmd.Flags().String("sampler", "em", "")
	cmd.Flags().Float64("snr", 0.16, "")
	cmd.Flags().Float64("eps", 0, "")
	return cmd
}

// The interface of the issue: --n 16 writes a 4 x 4 grid of 28 x 28 images.
func TestSampleWritesAGrid(t *testing.T) {
	dir := trainTiny(t)
	out := filepath.Join(t.TempDir(), "grid.png")
	npy := filepath.Join(t.TempDir(), "x.npy")
	if err := run(command(), options{ckpt: dir, out: out, npy: npy, n: 16, steps: 5, seed: 1, sampler: "em"}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 4*28+3*2 || b.Dy() != 4*28+3*2 {
		t.Fatalf("grid is %dx%d, want 4 x 4 images of 28 x 28 with 2-pixel gaps (118x118)", b.Dx(), b.Dy())
	}
	if fi, err := os.Stat(npy); err != nil || fi.Size() < 16*784*4 {
		t.Fatalf(".npy: %v, size %d", err, fi.Size())
	}
}

func TestBadInputIsAnErrorNamingIt(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nothing-here")
	if err := run(command(), options{ckpt: missing, out: "x.png", n: 4, steps: 2}); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("missing checkpoint: err = %v", err)
	}
	empty := t.TempDir()
	if err := run(command(), options{ckpt: empty, out: "x.png", n: 4, steps: 2}); err == nil || !strings.Contains(err.Error(), empty) {
		t.Fatalf("folder without checkpoints: err = %v", err)
	}
	if err := run(command(), options{ckpt: empty, out: "x.png", n: 0, steps: 2}); err == nil || !strings.Contains(err.Error(), "--n 0") {
		t.Fatalf("--n 0: err = %v", err)
	}
}
