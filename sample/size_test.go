package sample

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scoregen/scoregen/sde"
)

// Sizes that cannot fit are one error naming the flag to change, found
// before the network, the batch or the grid is allocated: more images than
// one seed's noise covers, a batch too big for memory, a grid too big for
// memory, a .npy too big for its disk.
func TestSizesAreCheckedFirst(t *testing.T) {
	ckpt := trainTiny(t)
	defer func(m func() (int64, error), d func(string) (float64, error)) { availableMemory, freeDisk = m, d }(availableMemory, freeDisk)
	availableMemory = func() (int64, error) { return 1 << 30, nil }
	freeDisk = func(string) (float64, error) { return 1 << 30, nil }
	npy := filepath.Join(t.TempDir(), "x.npy")
	for _, c := range []struct {
		name string
		o    Options
		want []string
	}{
		{"noise", opts(ckpt, npy, 100_000_000, 64), []string{"--n 100000000", fmt.Sprintf("at most %d images", sde.MaxElements/784/64*64), "--seed"}},
		{"batch", opts(ckpt, npy, 20_000_000, 20_000_000), []string{"GiB of host memory", "batch 20000000", "lower --batch"}},
		{"grid", func() Options { o := opts(ckpt, "", 2_000_000, 64); o.Out = "grid.png"; return o }(),
			[]string{"grid of 2000000 images needs 1.7 GiB", "1.0 GiB available", "--grid-every"}},
		{"grid-every", func() Options {
			o := opts(ckpt, "", 2_000_000, 64)
			o.Out = "grid.png"
			o.GridEvery = 1_500_000
			return o
		}(),
			[]string{"grid of 1500000 images", "--grid-every"}},
		{"disk", opts(ckpt, npy, 400_000, 64), []string{"--npy " + npy, "400000 images need 1.2 GiB more on disk", "1.0 GiB free", "--shard"}},
	} {
		err := Run(context.Background(), c.o)
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: err = %v, want it to say %q", c.name, err, w)
			}
		}
	}
	// What fits runs.
	o := opts(ckpt, npy, 8, 4)
	o.Out = filepath.Join(t.TempDir(), "grid.png")
	mustRun(t, o)
}
