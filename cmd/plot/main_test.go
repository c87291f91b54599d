package main

import (
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeMetrics writes lines as dir's metrics.jsonl.
func writeMetrics(t *testing.T, dir string, lines ...string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "metrics.jsonl"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// decode reads the PNG at path.
func decode(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", path, err)
	}
	return img
}

// colours counts the distinct colours of img, so that a blank image is
// told from one with curves.
func colours(img image.Image) int {
	seen := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[[4]uint32{r, g, bl, a}] = true
		}
	}
	return len(seen)
}

// A GAN's two losses with the judge's figures every 20 steps make a PNG of
// the size asked, in the run folder by default or at --out, with more
// than the background drawn; the lower half, where the FD panel goes, is
// drawn only when there are figures.
func TestPlotWritesAPNGOfTheSizeAsked(t *testing.T) {
	dir := t.TempDir()
	var lines []string
	for s := 10; s <= 100; s += 10 {
		l := fmt.Sprintf(`{"step":%d,"d.loss":%g,"g.loss":%g,"images_per_s":50`, s, 1.4-float64(s)/200, 0.7+float64(s)/300)
		if s%20 == 0 {
			l += fmt.Sprintf(`,"fd":%g,"fd_floor":3.5,"kid":0.1`, 400/float64(s))
		}
		lines = append(lines, l+"}")
	}
	writeMetrics(t, dir, lines...)
	if err := run(options{run: dir, width: 640, height: 480}); err != nil {
		t.Fatal(err)
	}
	img := decode(t, filepath.Join(dir, "curves.png"))
	if b := img.Bounds(); b.Dx() != 640 || b.Dy() != 480 {
		t.Fatalf("curves.png is %dx%d, want 640x480", b.Dx(), b.Dy())
	}
	lower := func(img image.Image) int {
		b := img.Bounds()
		return colours(img.(interface {
			SubImage(image.Rectangle) image.Image
		}).SubImage(image.Rect(b.Min.X, b.Min.Y+b.Dy()*3/4, b.Max.X, b.Max.Y)))
	}
	if n := colours(img); n < 4 {
		t.Fatalf("curves.png has %d colours: nothing drawn", n)
	}
	withFD := lower(img)

	out := filepath.Join(t.TempDir(), "losses.png")
	writeMetrics(t, dir, `{"step":1,"loss":2}`, `{"step":2,"loss":1.5}`, `{"step":3,"loss":1.2}`)
	if err := run(options{run: dir, out: out, width: 300, height: 900}); err != nil {
		t.Fatal(err)
	}
	img = decode(t, out)
	if b := img.Bounds(); b.Dx() != 300 || b.Dy() != 900 {
		t.Fatalf("%s is %dx%d, want 300x900", out, b.Dx(), b.Dy())
	}
	// Without figures the loss panel fills the image: its lower quarter
	// holds the x axis's labels and little else, while with figures it
	// holds the FD curve and its floor in their colours.
	if lossOnly := lower(img); !(withFD > lossOnly) {
		t.Errorf("lower quarter: %d colours with FD, %d without; want more with", withFD, lossOnly)
	}
}

// A line that is not a JSON object of numbers with a step is refused in
// one line naming the file and the line's number, and nothing is written.
func TestPlotRefusesABadLine(t *testing.T) {
	for _, c := range []struct {
		bad, want string
	}{
		{`{"step":2,"loss":`, "line 2"},
		{`{"step":2,"loss":"high"}`, "line 2"},
		{`{"loss":1}`, `line 2: no "step"`},
		{``, "line 2"},
	} {
		dir := t.TempDir()
		writeMetrics(t, dir, `{"step":1,"loss":2}`, c.bad, `{"step":3,"loss":1}`)
		err := run(options{run: dir, width: 400, height: 300})
		file := filepath.Join(dir, "metrics.jsonl")
		if err == nil || !strings.Contains(err.Error(), file+" "+c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("line %q: err = %v, want one line saying %q", c.bad, err, file+" "+c.want)
		}
		if _, err := os.Stat(filepath.Join(dir, "curves.png")); !os.IsNotExist(err) {
			t.Errorf("line %q: curves.png was written", c.bad)
		}
	}
}

// Sizes outside what can hold a plot, a missing --run and a file with no
// loss are refused in one line each.
func TestPlotRefusesBadArguments(t *testing.T) {
	dir := t.TempDir()
	writeMetrics(t, dir, `{"step":1,"fd":3}`)
	for _, c := range []struct {
		o    options
		want string
	}{
		{options{run: dir, width: 0, height: 300}, "--width 0"},
		{options{run: dir, width: 400, height: 100000}, "--height 100000"},
		{options{width: 400, height: 300}, "--run"},
		{options{run: dir, width: 400, height: 300}, "no loss"},
		{options{run: filepath.Join(dir, "missing"), width: 400, height: 300}, "missing"},
	} {
		if err := run(c.o); err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: err = %v, want one line saying %q", c.o, err, c.want)
		}
	}
}
