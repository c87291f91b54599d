package sample

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadMask reads a mask PNG: white (grey at least half) is known, in
// row order; a mask of another size is an error naming both sizes.
func TestReadMask(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, w, h int, at func(x, y int) uint8) string {
		img := image.NewGray(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				img.SetGray(x, y, color.Gray{Y: at(x, y)})
			}
		}
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := write("left.png", 3, 2, func(x, y int) uint8 { return []uint8{255, 128, 127}[x] })
	m, err := readMask(p, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{1, 1, 0, 1, 1, 0}
	for j := range want {
		if m[j] != want[j] {
			t.Fatalf("mask %v, want %v", m, want)
		}
	}
	if _, err := readMask(p, 3, 3); err == nil || !strings.Contains(err.Error(), "3x2 mask, want the images' 3x3") {
		t.Errorf("a mask of the wrong size: %v", err)
	}
	if _, err := readMask(filepath.Join(dir, "none.png"), 2, 3); err == nil || !strings.Contains(err.Error(), "--inpaint") {
		t.Errorf("a missing mask: %v", err)
	}
}
