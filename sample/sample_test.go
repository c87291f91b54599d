package sample

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/data"
	"github.com/scoregen/scoregen/grid"
	"github.com/scoregen/scoregen/model"
	"github.com/scoregen/scoregen/models"
	"github.com/scoregen/scoregen/train"
)

// trainTiny leaves a checkpoint of a very small network in a new folder.
func trainTiny(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cfg, err := configs.Load("mnist_tiny.yaml", []string{"model.ch=8", "model.mult=[1, 2]", "data.batch_size=4",
		"train.steps=3", "train.sample_every=0", "sample.steps=3", "train.out_dir=" + dir})
	if err != nil {
		t.Fatal(err)
	}
	ds := &data.Dataset{Name: "mnist", N: 8, C: 1, H: 28, W: 28, Pixels: make([]uint8, 8*784), Labels: make([]uint8, 8)}
	for i := range ds.Pixels {
		ds.Pixels[i] = uint8(i * 7)
	}
	tr, err := train.New(family(t, cfg), cfg, ds, train.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return dir
}

// opts are the test runs' settings: n images by 2 em steps, into npy.
func opts(ckpt, npy string, n, batch int) Options {
	return Options{Ckpt: ckpt, N: n, Batch: batch, Steps: 2, Seed: 3, Sampler: "em", Device: "cpu", NPY: npy, Resume: true, Family: models.New}
}

func mustRun(t *testing.T, o Options) {
	t.Helper()
	if err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameFile fails unless the files at a and b are byte for byte equal.
func sameFile(t *testing.T, what, a, b string) {
	t.Helper()
	if x, y := readFile(t, a), readFile(t, b); !bytes.Equal(x, y) {
		t.Fatalf("%s: %s (%d bytes) and %s (%d bytes) differ", what, a, len(x), b, len(y))
	}
}

// 70 images in batches of 7 and as two shards of batches of 7 merged are
// bit for bit the same .npy, sidecar and all, with em and with pc. With em
// in batches of 64 (the last one padded) the .npy is the same bit for bit
// too: an image's noise depends only on the seed and its index, and nn runs
// a CPU convolution as one GEMM per image, so its rounding does not depend
// on the batch.
func TestBatchesAndShardsGiveOneRun(t *testing.T) {
	ckpt := trainTiny(t)
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	const n = 70
	mustRun(t, opts(ckpt, p("b7.npy"), n, 7))
	mustRun(t, opts(ckpt, p("b64.npy"), n, 64))
	for k := range 2 {
		o := opts(ckpt, p("s"+string(rune('0'+k))+".npy"), n, 7)
		o.Shard = Shard{k, 2}
		mustRun(t, o)
	}
	if err := Merge(p("merged.npy"), []string{p("s1.npy"), p("s0.npy")}, "", 0); err != nil {
		t.Fatal(err)
	}
	sameFile(t, "batches of 7 vs of 64", p("b7.npy"), p("b64.npy"))
	sameFile(t, "batch 7 vs two shards", p("b7.npy"), p("merged.npy"))
	sameFile(t, "sidecars of one run and the merge", sidecarPath(p("b7.npy")), sidecarPath(p("merged.npy")))
	checkNumpy(t, p("merged.npy"), n, -1)

	pc := opts(ckpt, p("pc.npy"), n, 7)
	pc.Sampler, pc.SNR = "pc", 0.16
	mustRun(t, pc)
	for k := range 2 {
		o := pc
		o.NPY, o.Shard = p("pc"+string(rune('0'+k))+".npy"), Shard{k, 2}
		mustRun(t, o)
	}
	if err := Merge(p("pcm.npy"), []string{p("pc0.npy"), p("pc1.npy")}, "", 0); err != nil {
		t.Fatal(err)
	}
	sameFile(t, "pc: one run vs two shards", p("pc.npy"), p("pcm.npy"))
	sameFile(t, "pc: sidecars", sidecarPath(p("pc.npy")), sidecarPath(p("pcm.npy")))
	if bytes.Equal(readFile(t, p("pc.npy")), readFile(t, p("b7.npy"))) {
		t.Error("pc and em gave the same samples")
	}
}

// checkNumpy loads the .npy with numpy and checks its shape, that its
// values are finite, and, if zeroFrom >= 0, that images from zeroFrom on
// are zero (not yet sampled) and those before it are not.
func checkNumpy(t *testing.T, path string, n, zeroFrom int) {
	t.Helper()
	py := ""
	for _, p := range []string{"python3", "/usr/bin/python3"} { // make setup installs Debian's numpy
		if exec.Command(p, "-c", "import numpy").Run() == nil {
			py = p
			break
		}
	}
	if py == "" {
		t.Skip("no python3 with numpy (make setup installs it)")
	}
	script := `
import sys, numpy as np
a = np.load(sys.argv[1]); n = int(sys.argv[2]); z = int(sys.argv[3])
assert a.shape == (n, 1, 28, 28) and a.dtype == np.float32, (a.shape, a.dtype)
assert np.isfinite(a).all()
if z >= 0:
    assert (a[z:] == 0).all(), "images after the done ones are not zero"
    assert (abs(a[:z]).reshape(z, -1).max(axis=1) > 0).all(), "a done image is zero"
`
	if out, err := exec.Command(py, "-c", script, path, strconv.Itoa(n), strconv.Itoa(zeroFrom)).CombinedOutput(); err != nil {
		t.Fatalf("numpy on %s: %v\n%s", path, err, out)
	}
}

// cancelAfter is a progress writer that cancels a run at its k-th update.
type cancelAfter struct {
	k      int
	cancel func()
}

func (c *cancelAfter) Write(b []byte) (int, error) {
	if c.k--; c.k == 0 {
		c.cancel()
	}
	return len(b), nil
}

// A run stopped after its first batch leaves a valid .npy (numpy reads it;
// the images not yet sampled are zero) and a sidecar; run again with other
// arguments it is an error naming the key, with the same ones it continues
// and gives the clean run's file; --resume=false starts over.
func TestStopAndResume(t *testing.T) {
	ckpt := trainTiny(t)
	dir := t.TempDir()
	clean, part := filepath.Join(dir, "clean.npy"), filepath.Join(dir, "part.npy")
	mustRun(t, opts(ckpt, clean, 30, 8))

	ctx, cancel := context.WithCancel(context.Background())
	o := opts(ckpt, part, 30, 8)
	o.Progress = &cancelAfter{k: 1, cancel: cancel}
	if err := Run(ctx, o); err == nil || !strings.Contains(err.Error(), "8 of 30 images done") {
		t.Fatalf("stopped run: err = %v", err)
	}
	checkNumpy(t, part, 30, 8)
	other := opts(ckpt, part, 30, 8)
	other.Seed = 4
	err := Run(context.Background(), other)
	if err == nil || !strings.Contains(err.Error(), "seed was 3") || !strings.Contains(err.Error(), sidecarPath(part)) {
		t.Fatalf("resume with another seed: err = %v", err)
	}
	mustRun(t, opts(ckpt, part, 30, 8))
	sameFile(t, "resumed vs clean", clean, part)
	sameFile(t, "sidecars", sidecarPath(clean), sidecarPath(part))

	other.Resume = false
	mustRun(t, other)
	if bytes.Equal(readFile(t, part), readFile(t, clean)) {
		t.Error("--resume=false with another seed kept the old samples")
	}
	if err := os.WriteFile(sidecarPath(part), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Run(context.Background(), opts(ckpt, part, 30, 8)); err == nil || !strings.Contains(err.Error(), sidecarPath(part)) {
		t.Fatalf("broken sidecar: err = %v", err)
	}
}

// A .npy that no sidecar describes is not a run's output: --resume refuses
// to overwrite it, naming the file and the flag; --resume=false does.
func TestForeignNPYIsNotOverwritten(t *testing.T) {
	ckpt := trainTiny(t)
	npy := filepath.Join(t.TempDir(), "theirs.npy")
	if err := os.WriteFile(npy, []byte("someone else's"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := "--npy " + npy + " exists and has no " + sidecarPath(npy) + " recording a run; --resume=false overwrites it"
	if err := Run(context.Background(), opts(ckpt, npy, 4, 2)); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want it to say %q", err, want)
	}
	if string(readFile(t, npy)) != "someone else's" {
		t.Fatal("the refused run changed the file")
	}
	o := opts(ckpt, npy, 4, 2)
	o.Resume = false
	mustRun(t, o)
	checkNumpy(t, npy, 4, -1)
}

// A run killed while creating its .npy leaves FILE.npy.tmp; the next start
// removes it and says so, whether it resumes or starts over.
func TestLeftoverTempIsRemoved(t *testing.T) {
	ckpt := trainTiny(t)
	npy := filepath.Join(t.TempDir(), "x.npy")
	for _, what := range []string{"a fresh start", "a resumed run"} { // the first run completes the .npy
		if err := os.WriteFile(npyTemp(npy), []byte("cut short"), 0o644); err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		o := opts(ckpt, npy, 4, 2)
		o.Log = slog.New(slog.NewTextHandler(&logs, nil))
		mustRun(t, o)
		if _, err := os.Stat(npyTemp(npy)); err == nil {
			t.Errorf("%s left %s", what, npyTemp(npy))
		}
		if want := `msg="removed a temporary file left by a killed run" path=` + npyTemp(npy); !strings.Contains(logs.String(), want) {
			t.Errorf("%s: the log does not say %s:\n%s", what, want, logs.String())
		}
	}
}

// Without --batch, a run takes the largest power of two up to 1024 and n
// that fits, and an error if not even 1 does.
func TestLargestBatch(t *testing.T) {
	upTo := func(most int) func(int) error {
		return func(b int) error {
			if b > most {
				return fmt.Errorf("batch %d does not fit", b)
			}
			return nil
		}
	}
	for _, c := range []struct{ n, most, want int }{
		{1, 1 << 20, 1}, {20, 1 << 20, 16}, {1024, 1 << 20, 1024}, {3000, 1 << 20, 1024}, {3000, 100, 64}, {20, 3, 2},
	} {
		if got, err := largestBatch(c.n, upTo(c.most)); got != c.want || err != nil {
			t.Errorf("n %d, fits up to %d: batch %d, %v; want %d", c.n, c.most, got, err, c.want)
		}
	}
	if _, err := largestBatch(20, upTo(0)); err == nil || err.Error() != "batch 1 does not fit" {
		t.Errorf("nothing fits: err = %v, want batch 1's", err)
	}
}

// A run without --batch on a tiny checkpoint, where memory is plentiful,
// samples in batches of min(n, 1024) rounded down to a power of two; resumed
// without --batch it continues in the batches its sidecar records.
func TestDefaultBatch(t *testing.T) {
	ckpt := trainTiny(t)
	dir := t.TempDir()
	fresh, part := filepath.Join(dir, "fresh.npy"), filepath.Join(dir, "part.npy")
	mustRun(t, opts(ckpt, fresh, 20, 0))
	if s, err := readSidecar(fresh); err != nil || s.Batch != 16 {
		t.Fatalf("20 images without --batch: sidecar %+v, %v; want batch 16", s, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	o := opts(ckpt, part, 20, 8)
	o.Progress = &cancelAfter{k: 1, cancel: cancel}
	if err := Run(ctx, o); err == nil {
		t.Fatal("the stopped run did not stop")
	}
	mustRun(t, opts(ckpt, part, 20, 0))
	if s, err := readSidecar(part); err != nil || s.Batch != 8 || s.Done != 20 {
		t.Fatalf("resumed without --batch: sidecar %+v, %v; want batch 8, 20 done", s, err)
	}
	sameFile(t, "em in batches of 16 vs 8, resumed", fresh, part)
}

// family is the model family cfg asks for.
func family(t *testing.T, cfg *configs.Config) model.Family {
	t.Helper()
	f, err := models.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// The .npy holds images in the data's range: an undertrained score
// network's samples, which overshoot it, come clipped to [-1, 1].
func TestSamplesAreClippedToTheDataRange(t *testing.T) {
	npy := filepath.Join(t.TempDir(), "s.npy")
	mustRun(t, opts(trainTiny(t), npy, 4, 4))
	_, x, err := grid.ReadNPY(npy)
	if err != nil {
		t.Fatal(err)
	}
	edges := 0
	for i, v := range x {
		if v < -1 || v > 1 {
			t.Fatalf("value %d is %v, outside [-1, 1]", i, v)
		}
		if v == -1 || v == 1 {
			edges++
		}
	}
	if edges == 0 {
		t.Errorf("no value at -1 or 1: the test's samples should overshoot the data's range and be clipped")
	}
}

// TestStepsDefaultToTheCheckpoints samples without --steps: the run takes
// the checkpoint's sample.steps (3 here), as its sidecar records.
func TestStepsDefaultToTheCheckpoints(t *testing.T) {
	npy := filepath.Join(t.TempDir(), "x.npy")
	o := opts(trainTiny(t), npy, 2, 2)
	o.Steps = 0
	mustRun(t, o)
	sc, err := readSidecar(npy)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Steps != 3 {
		t.Errorf("the run took %d steps, want the checkpoint's 3", sc.Steps)
	}
	o.Steps = -1
	if err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "--steps -1") {
		t.Errorf("--steps -1: %v", err)
	}
}
