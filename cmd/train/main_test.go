package main

import (
	"strings"
	"testing"

	"github.com/scoregen/scoregen/configs"
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
