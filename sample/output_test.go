package sample

import (
	"bytes"
	"context"
	"image/png"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func pngSize(t *testing.T, p string) (int, int) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img.Bounds().Dx(), img.Bounds().Dy()
}

// --out writes one grid of all the images (16: 4 x 4 of 28 x 28 with 2-pixel
// gaps); with --grid-every 4, 10 images make grid-00000.png to
// grid-00002.png, the last one of 2 images in the layout of 4; a shard's
// grids are named after it.
func TestGrids(t *testing.T) {
	ckpt := trainTiny(t)
	dir := t.TempDir()
	o := opts(ckpt, "", 16, 5)
	o.Out = filepath.Join(dir, "all.png")
	mustRun(t, o)
	if w, h := pngSize(t, o.Out); w != 118 || h != 118 {
		t.Errorf("grid of 16 is %dx%d, want 118x118", w, h)
	}
	o = opts(ckpt, filepath.Join(dir, "x.npy"), 10, 3)
	o.Out, o.GridEvery = filepath.Join(dir, "grid.png"), 4
	mustRun(t, o)
	for _, c := range []struct {
		name string
		w, h int
	}{{"grid-00000.png", 58, 58}, {"grid-00001.png", 58, 58}, {"grid-00002.png", 58, 28}} {
		if w, h := pngSize(t, filepath.Join(dir, c.name)); w != c.w || h != c.h {
			t.Errorf("%s is %dx%d, want %dx%d", c.name, w, h, c.w, c.h)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "grid-00003.png")); err == nil {
		t.Error("a fourth grid for 10 images")
	}

	// Two shards of those 10 images in batches of 3 are images 0-5 and 6-9:
	// grid 1 (images 4-7) straddles them, and each shard draws its part, in
	// a file named after the shard; so does a single grid.
	sharded := filepath.Join(dir, "sharded")
	if err := os.Mkdir(sharded, 0o755); err != nil {
		t.Fatal(err)
	}
	for k := range 2 {
		o := opts(ckpt, "", 10, 3)
		o.Out, o.GridEvery, o.Shard = filepath.Join(sharded, "grid.png"), 4, Shard{k, 2}
		mustRun(t, o)
		o.Out, o.GridEvery = filepath.Join(sharded, "all.png"), 0
		mustRun(t, o)
	}
	for _, c := range []struct {
		name string
		w, h int
	}{
		{"grid-00000.shard0of2.png", 58, 58}, {"grid-00001.shard0of2.png", 58, 28},
		{"grid-00001.shard1of2.png", 58, 28}, {"grid-00002.shard1of2.png", 58, 28},
		{"all.shard0of2.png", 88, 58}, {"all.shard1of2.png", 58, 58},
	} {
		if w, h := pngSize(t, filepath.Join(sharded, c.name)); w != c.w || h != c.h {
			t.Errorf("%s is %dx%d, want %dx%d", c.name, w, h, c.w, c.h)
		}
	}
	if names, _ := filepath.Glob(filepath.Join(sharded, "*")); len(names) != 6 {
		t.Errorf("shards wrote %v, want the 6 grids above", names)
	}
}

// Bad arguments and files are errors that name them.
func TestBadInputIsAnErrorNamingIt(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nothing-here")
	if err := Run(context.Background(), opts(missing, "x.npy", 4, 2)); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing checkpoint: err = %v", err)
	}
	if err := Run(context.Background(), opts(missing, "x.npy", 0, 2)); err == nil || !strings.Contains(err.Error(), "--n 0") {
		t.Errorf("--n 0: err = %v", err)
	}
	if err := Run(context.Background(), opts(missing, "", 4, 2)); err == nil || !strings.Contains(err.Error(), "--out") {
		t.Errorf("no output: err = %v", err)
	}
	for _, s := range []string{"2/2", "1", "a/b", "-1/2", "0/0"} {
		if _, err := ParseShard(s); err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("--shard %s: err = %v", s, err)
		}
	}
	if _, _, err := Range(10, 4, Shard{0, 4}); err == nil || !strings.Contains(err.Error(), "3 batches") {
		t.Errorf("4 shards of 3 batches: err = %v", err)
	}
}

// Merge refuses shards of different runs, incomplete or repeated shards,
// and files without a sidecar, naming the file and the key.
func TestMergeChecksItsShards(t *testing.T) {
	ckpt := trainTiny(t)
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	for k, seed := range []uint64{3, 4, 3} {
		o := opts(ckpt, p(string(rune('a'+k))+".npy"), 8, 2)
		o.Shard, o.Seed = Shard{k % 2, 2}, seed
		mustRun(t, o)
	}
	if err := os.WriteFile(p("plain.npy"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	side, err := readSidecar(p("c.npy"))
	if err != nil {
		t.Fatal(err)
	}
	side.Done--
	side.Shard = "1/2"
	if err := side.write(p("c.npy")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		files []string
		want  []string
	}{
		{[]string{"a.npy", "b.npy"}, []string{"b.npy.json", "seed is 3 in the first, 4"}},
		{[]string{"a.npy", "c.npy"}, []string{"c.npy.json", "3 of its 4 images done"}},
		{[]string{"a.npy", "a.npy"}, []string{"a.npy", "both shard 0/2"}},
		{[]string{"a.npy"}, []string{"a.npy.json", "want one of 1"}},
		{[]string{"plain.npy", "a.npy"}, []string{"plain.npy.json", "not the output of a sampling run"}},
	} {
		var files []string
		for _, f := range c.files {
			files = append(files, p(f))
		}
		err := Merge(p("out.npy"), files, "", 0)
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("merge %v: err = %v, want it to say %q", c.files, err, w)
			}
		}
	}
	if _, err := os.Stat(p("out.npy")); err == nil {
		t.Error("a failed merge left out.npy")
	}
}

// The progress is a bar with the rate and time left on a terminal, log
// lines otherwise.
func TestProgress(t *testing.T) {
	var term, logs bytes.Buffer
	bar := newProgress(&term, nil, 0, 100)
	bar.update(10)
	bar.update(100)
	if s := term.String(); !strings.Contains(s, "\r     10/100 [===") || !strings.Contains(s, "img/s ETA") || !strings.HasSuffix(s, "\n") {
		t.Errorf("bar: %q", s)
	}
	lines := newProgress(nil, slog.New(slog.NewTextHandler(&logs, nil)), 0, 100)
	lines.update(10)
	lines.update(100)
	if s := logs.String(); strings.Count(s, "\n") != 2 || !strings.Contains(s, "done=100 of=100") || !strings.Contains(s, "images_per_s=") {
		t.Errorf("log lines: %q", s)
	}
}
