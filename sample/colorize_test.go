package sample

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/scoregen/scoregen/data"
)

// TestColorizeRefusesGrayData asks for colours from a checkpoint of MNIST,
// whose images are gray: one error naming the data set. It needs the MNIST
// test set in the cache (go run ./cmd/fetch mnist).
func TestColorizeRefusesGrayData(t *testing.T) {
	if _, err := data.Load("mnist", "", false); err != nil {
		t.Skipf("no MNIST test set in the cache: %v", err)
	}
	o := opts(trainTiny(t), "", 2, 2)
	o.Out = filepath.Join(t.TempDir(), "colour.png")
	if err := Colorize(o, 2); err == nil || !strings.Contains(err.Error(), "models mnist, whose images are gray") {
		t.Errorf("colorising MNIST: %v", err)
	}
}
