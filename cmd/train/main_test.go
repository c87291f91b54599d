package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/data"
	"github.com/scoregen/scoregen/model"
	"github.com/scoregen/scoregen/models"
	"github.com/scoregen/scoregen/train"
)

// CIFAR-10 is never fetched: training on it without the files says where
// to put them.
func TestMissingCIFARSaysWhereToPutIt(t *testing.T) {
	dir := t.TempDir()
	cfg, err := configs.Load("cifar10_vp.yaml", []string{"data.dir=" + dir, "train.out_dir=" + t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	err = run(cfg, false)
	if err == nil || !strings.Contains(err.Error(), "cifar-10-batches-bin") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("err = %v, want one naming %s and cifar-10-batches-bin", err, dir)
	}
}

// train.eval_every without the judge fails at once, in one line naming
// train.judge and how to train one, before any step or checkpoint.
func TestMissingJudgeFailsAtTheStart(t *testing.T) {
	dataDir, out := t.TempDir(), t.TempDir()
	ds := &data.Dataset{Name: "mnist", N: 4, C: 1, H: 28, W: 28, Pixels: make([]uint8, 4*784), Labels: make([]uint8, 4)}
	if err := data.WriteStandIn(dataDir, "mnist", ds); err != nil {
		t.Fatal(err)
	}
	judge := filepath.Join(t.TempDir(), "mnist_classifier")
	cfg, err := configs.Load("mnist_tiny.yaml", []string{"data.dir=" + dataDir, "train.out_dir=" + out, "train.eval_every=10", "train.judge=" + judge})
	if err != nil {
		t.Fatal(err)
	}
	err = run(cfg, false)
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "train.judge") || !strings.Contains(err.Error(), judge) || !strings.Contains(err.Error(), "make eval-nets") {
		t.Fatalf("err = %v, want one line naming train.judge %s and make eval-nets", err, judge)
	}
	if left, _ := os.ReadDir(out); len(left) != 0 {
		t.Fatalf("%s holds %d files: the run started", out, len(left))
	}
}

// After a failure the message says what is true of the run folder's
// checkpoints, having verified them: none, the last intact, or the newest
// intact one past bad ones.
func TestCheckpointNoteSaysWhatIsTrue(t *testing.T) {
	dir := t.TempDir()
	if got := checkpointNote(dir); !strings.Contains(got, "no checkpoint was written in "+dir) {
		t.Errorf("empty folder: %q", got)
	}
	cfg, err := configs.Load("mnist_tiny.yaml", []string{"model.ch=8", "model.mult=[1]", "data.batch_size=1", "train.out_dir=" + dir})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := train.New(family(t, cfg), cfg, &data.Dataset{Name: "mnist", N: 1, C: 1, H: 28, W: 28, Pixels: make([]uint8, 784), Labels: []uint8{0}}, train.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	var paths []string
	for range 2 {
		if _, err := tr.TrainStep(); err != nil {
			t.Fatal(err)
		}
		p, err := tr.Save()
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	if got := checkpointNote(dir); !strings.Contains(got, "the last checkpoint, "+paths[1]+", step 2, is intact") {
		t.Errorf("intact: %q", got)
	}
	if err := os.Truncate(paths[1], 100); err != nil {
		t.Fatal(err)
	}
	if got := checkpointNote(dir); !strings.Contains(got, "the newest intact checkpoint is "+paths[0]+", step 1; 1 newer do not load") {
		t.Errorf("newest truncated: %q", got)
	}
	if err := os.Truncate(paths[0], 100); err != nil {
		t.Fatal(err)
	}
	if got := checkpointNote(dir); !strings.Contains(got, "no checkpoint in "+dir+" is intact") || !strings.Contains(got, paths[0]) {
		t.Errorf("all truncated: %q", got)
	}
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
