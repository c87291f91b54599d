package grid

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func decodePNG(t *testing.T, p string) image.Image {
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
	return img
}

func noTemps(t *testing.T, dir string) {
	t.Helper()
	des, _ := os.ReadDir(dir)
	for _, de := range des {
		if strings.Contains(de.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", de.Name())
		}
	}
}

func TestToByte(t *testing.T) {
	cases := []struct {
		v    float32
		want uint8
	}{
		{-1, 0}, {1, 255}, {0, 128}, {-5, 0}, {7, 255},
		{float32(math.Inf(1)), 255}, {float32(math.Inf(-1)), 0}, {float32(math.NaN()), 0},
		{-1 + 1.01/255, 1}, // 0.505 rounds up (exact halves are not float32 values)
		{-1 + 0.9/255, 0},  // 0.45 rounds down
		{0.5, 191},         // 191.25
		{-0.5, 64},         // 63.75
		{1 - 0.2/255, 255}, // 254.9
	}
	for _, c := range cases {
		if got := toByte(c.v); got != c.want {
			t.Errorf("toByte(%v) = %d, want %d", c.v, got, c.want)
		}
	}
}

// value returns the [-1,1] value whose byte is b (exact for our mapping).
func value(b uint8) float32 { return float32(b)/127.5 - 1 }

func TestWritePNGGray(t *testing.T) {
	// 5 images of 2x3, 3 columns: a 2-row grid of 3*3+2*2 = 13 by 2*2+2 = 6.
	n, h, w, cols := 5, 2, 3, 3
	imgs := make([]float32, n*h*w)
	want := func(i, y, x int) uint8 { return uint8(40*i + 10*y + x + 1) }
	for i := range n {
		for y := range h {
			for x := range w {
				imgs[(i*h+y)*w+x] = value(want(i, y, x))
			}
		}
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "g.png")
	if err := WritePNG(p, imgs, n, 1, h, w, cols); err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, p)
	g, ok := img.(*image.Gray)
	if !ok {
		t.Fatalf("decoded %T, want *image.Gray (8-bit grayscale PNG)", img)
	}
	if b := g.Bounds(); b.Dx() != 13 || b.Dy() != 6 || b.Min != (image.Point{}) {
		t.Fatalf("bounds %v, want 13x6", b)
	}
	// Every pixel: image content where expected, 0 elsewhere (gaps, empty cell).
	expect := make(map[image.Point]uint8)
	for i := range n {
		x0, y0 := (i%cols)*(w+2), (i/cols)*(h+2)
		for y := range h {
			for x := range w {
				expect[image.Pt(x0+x, y0+y)] = want(i, y, x)
			}
		}
	}
	for y := range 6 {
		for x := range 13 {
			if got, w := g.GrayAt(x, y).Y, expect[image.Pt(x, y)]; got != w {
				t.Errorf("pixel (%d,%d) = %d, want %d", x, y, got, w)
			}
		}
	}
	// Spot checks written out by hand: image 4 is at row 1, column 1.
	if got := g.GrayAt(5+2, 4+1).Y; got != 40*4+10*1+2+1 {
		t.Errorf("image 4 pixel (y=1,x=2) = %d", got)
	}
	if got := g.GrayAt(3, 0).Y; got != 0 {
		t.Errorf("gap pixel = %d", got)
	}
	noTemps(t, dir)
}

func TestWritePNGRGB(t *testing.T) {
	// 2 images of 1x2, RGB; cols larger than n gives one row of 2.
	n, c, h, w := 2, 3, 1, 2
	imgs := []float32{
		// image 0: R plane, G plane, B plane
		-1, 1, // R
		0, 0.5, // G
		1, -1, // B
		// image 1
		3, -3,
		float32(math.NaN()), 0,
		-0.5, 1,
	}
	p := filepath.Join(t.TempDir(), "rgb.png")
	if err := WritePNG(p, imgs, n, c, h, w, 8); err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, p)
	if _, ok := img.(*image.RGBA); !ok {
		t.Errorf("decoded %T, want *image.RGBA (opaque 8-bit RGB PNG)", img)
	}
	if b := img.Bounds(); b.Dx() != 2*w+2 || b.Dy() != h {
		t.Fatalf("bounds %v, want %dx%d", b, 2*w+2, h)
	}
	want := map[int][3]uint8{
		0: {0, 128, 255},
		1: {255, 191, 0},
		2: {0, 0, 0}, // gap
		3: {0, 0, 0}, // gap
		4: {255, 0, 64},
		5: {0, 128, 255},
	}
	for x, rgb := range want {
		r, g, b, a := img.At(x, 0).RGBA()
		got := [3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)}
		if got != rgb || a != 0xffff {
			t.Errorf("pixel x=%d = %v alpha %d, want %v opaque", x, got, a, rgb)
		}
	}
}

func TestWritePNGErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "keep.png")
	if err := WritePNG(p, []float32{0}, 1, 1, 1, 1, 1); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(p)
	cases := []struct {
		name             string
		imgs             []float32
		n, c, h, w, cols int
		want             string
	}{
		{"c=2", make([]float32, 4), 1, 2, 1, 2, 1, "channels"},
		{"c=4", make([]float32, 4), 1, 4, 1, 1, 1, "channels"},
		{"short", make([]float32, 3), 1, 1, 2, 2, 1, "values"},
		{"long", make([]float32, 5), 1, 1, 2, 2, 1, "values"},
		{"n=0", nil, 0, 1, 2, 2, 1, "positive"},
		{"cols=0", make([]float32, 4), 1, 1, 2, 2, 0, "positive"},
		{"overflow", nil, 1 << 31, 3, 1 << 31, 1 << 31, 1, "values"},
	}
	for _, c := range cases {
		err := WritePNG(p, c.imgs, c.n, c.c, c.h, c.w, c.cols)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: err = %v", c.name, err)
		}
	}
	after, _ := os.ReadFile(p)
	if !bytes.Equal(before, after) {
		t.Error("existing file changed")
	}
	// A failure after encoding (rename over a non-empty folder) leaves no
	// temporary file.
	sub := filepath.Join(dir, "sub")
	if err := os.MkdirAll(filepath.Join(sub, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WritePNG(sub, []float32{0}, 1, 1, 1, 1, 1); err == nil {
		t.Error("WritePNG over a folder succeeded")
	}
	noTemps(t, dir)
}

func TestWriteNPYHeader(t *testing.T) {
	data := []float32{0, 1.5, -2, 3, float32(math.Inf(-1)), 5}
	p := filepath.Join(t.TempDir(), "a.npy")
	if err := WriteNPY(p, data, []int{2, 3}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	// Format spec: magic "\x93NUMPY", major 1, minor 0, uint16 LE header
	// length, the dict literal padded with spaces and ending in '\n', so
	// that the data starts at a multiple of 64.
	dict := "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
	want := "\x93NUMPY\x01\x00" + "\x76\x00" + dict + strings.Repeat(" ", 128-10-len(dict)-1) + "\n"
	if len(want) != 128 {
		t.Fatalf("bad expectation: %d", len(want))
	}
	if string(b[:128]) != want {
		t.Fatalf("header\n got %q\nwant %q", b[:128], want)
	}
	if hl := binary.LittleEndian.Uint16(b[8:]); 10+int(hl) != 128 {
		t.Errorf("header length %d", hl)
	}
	if len(b) != 128+4*len(data) {
		t.Fatalf("file is %d bytes", len(b))
	}
	for i, v := range data {
		if got := binary.LittleEndian.Uint32(b[128+4*i:]); got != math.Float32bits(v) {
			t.Errorf("value %d: bits %#x, want %#x", i, got, math.Float32bits(v))
		}
	}
}

func TestNPYHeaderShapes(t *testing.T) {
	cases := map[string][]int{
		"()":                     nil,
		"(7,)":                   {7},
		"(0, 3)":                 {0, 3},
		"(64, 3, 32, 32)":        {64, 3, 32, 32},
		"(1, 1, 1, 1, 1, 1, 1)":  {1, 1, 1, 1, 1, 1, 1},
		"(123456789, 987654321)": {123456789, 987654321},
	}
	for tuple, shape := range cases {
		h := npyHeader(shape)
		if (10+len(h))%64 != 0 || !strings.HasSuffix(h, " \n") && !strings.HasSuffix(h, "}\n") {
			t.Errorf("%v: header %q not aligned/terminated", shape, h)
		}
		prefix := "{'descr': '<f4', 'fortran_order': False, 'shape': " + tuple + ", }"
		if !strings.HasPrefix(h, prefix) || strings.TrimRight(h[len(prefix):], " \n") != "" {
			t.Errorf("%v: header %q, want %q + padding", shape, h, prefix)
		}
	}
}

func TestWriteNPYErrors(t *testing.T) {
	p := filepath.Join(t.TempDir(), "e.npy")
	for _, c := range []struct {
		data  []float32
		shape []int
	}{
		{make([]float32, 5), []int{2, 3}},
		{make([]float32, 1), []int{-1, -1}},
		{nil, nil}, // 0-d needs one value
	} {
		if err := WriteNPY(p, c.data, c.shape); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("WriteNPY(%d values, %v) = %v", len(c.data), c.shape, err)
		}
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Error("file created on error")
	}
}

// pythonWithNumpy returns a python interpreter that can import numpy, or "".
func pythonWithNumpy() string {
	for _, py := range []string{"python3", "/usr/bin/python3", "python"} {
		if exec.Command(py, "-c", "import numpy").Run() == nil {
			return py
		}
	}
	return ""
}

func TestNumpyReadsNPY(t *testing.T) {
	py := pythonWithNumpy()
	if py == "" {
		t.Skip("no python3 with numpy")
	}
	dir := t.TempDir()
	cases := []struct {
		shape []int
		n     int
	}{{[]int{2, 3, 4}, 24}, {[]int{5}, 5}, {nil, 1}, {[]int{0, 3}, 0}, {[]int{3, 1, 2, 2}, 12}}
	for i, c := range cases {
		data := make([]float32, c.n)
		for k := range data {
			data[k] = float32(k)*0.25 - 1
		}
		p := filepath.Join(dir, "x"+strconv.Itoa(i)+".npy")
		if err := WriteNPY(p, data, c.shape); err != nil {
			t.Fatal(err)
		}
		shape := "("
		for _, d := range c.shape {
			shape += strconv.Itoa(d) + ","
		}
		shape += ")"
		script := `
import sys, numpy as np
a = np.load(sys.argv[1])
want = (np.arange(` + strconv.Itoa(c.n) + `, dtype=np.float32) * np.float32(0.25) - np.float32(1)).reshape(` + shape + `)
assert a.dtype == np.dtype('<f4'), a.dtype
assert a.shape == ` + shape + `, a.shape
assert a.flags['C_CONTIGUOUS']
assert np.array_equal(a, want), (a, want)
print("ok", a.shape)
`
		out, err := exec.Command(py, "-c", script, p).CombinedOutput()
		if err != nil {
			t.Errorf("numpy rejects %v: %v\n%s", c.shape, err, out)
		}
	}
}

// ReadNPYHeader gives back the shape and data offset of what WriteNPY wrote,
// and refuses other files naming what is wrong.
func TestReadNPYHeader(t *testing.T) {
	dir := t.TempDir()
	for i, shape := range [][]int{nil, {5}, {0, 3}, {50000, 3, 32, 32}} {
		p := filepath.Join(dir, "x"+strconv.Itoa(i)+".npy")
		n := 1
		for _, d := range shape {
			n *= d
		}
		if err := WriteNPY(p, make([]float32, n), shape); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		got, off, err := ReadNPYHeader(f)
		f.Close()
		fi, _ := os.Stat(p)
		if err != nil || !slices.Equal(got, shape) || off%64 != 0 || fi.Size() != off+4*int64(n) {
			t.Errorf("shape %v: read %v, offset %d, err %v (file %d bytes)", shape, got, off, err, fi.Size())
		}
	}
	good, err := NPYHeader([]int{2, 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, data, want string }{
		{"empty", "", "header"},
		{"not npy", "PK\x03\x04 a zip file", "not a .npy"},
		{"float64", strings.Replace(string(good), "<f4", "<f8", 1), "float32"},
		{"fortran", strings.Replace(string(good), "False", "True ", 1), "C order"},
		{"bad dim", strings.Replace(string(good), "(2, 3)", "(2, x)", 1), "bad dimension"},
		{"truncated", string(good[:40]), "header"},
	} {
		if _, _, err := ReadNPYHeader(strings.NewReader(c.data)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one saying %q", c.name, err, c.want)
		}
	}
}

// ReadNPY gives back what WriteNPY and NumPy's np.save wrote, and refuses
// a file cut short.
func TestReadNPY(t *testing.T) {
	dir := t.TempDir()
	data := []float32{-1, -0.5, 0, 0.25, 1, float32(math.Pi)}
	p := filepath.Join(dir, "ours.npy")
	if err := WriteNPY(p, data, []int{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	shape, got, err := ReadNPY(p)
	if err != nil || !slices.Equal(shape, []int{1, 2, 3}) || !slices.Equal(got, data) {
		t.Errorf("ReadNPY(WriteNPY) = %v, %v, %v; want [1 2 3], %v", shape, got, err, data)
	}
	b, _ := os.ReadFile(p)
	cut := filepath.Join(dir, "cut.npy")
	if err := os.WriteFile(cut, b[:len(b)-4], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadNPY(cut); err == nil || !strings.Contains(err.Error(), "cut.npy") || !strings.Contains(err.Error(), "bytes") {
		t.Errorf("a file cut short: err = %v, want one naming the file and its length", err)
	}
	// A header whose size times 4 wraps to 0 bytes of data.
	head, err := NPYHeader([]int{1 << 62, 1, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	liar := filepath.Join(dir, "liar.npy")
	if err := os.WriteFile(liar, head, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadNPY(liar); err == nil || !strings.Contains(err.Error(), "liar.npy") {
		t.Errorf("a header of 2^62 values and no data: err = %v, want one naming the file", err)
	}
	// More values than one read buffer holds.
	big := make([]float32, 3<<16+5)
	for i := range big {
		big[i] = float32(i%1000)/500 - 1
	}
	if err := WriteNPY(p, big, []int{len(big)}); err != nil {
		t.Fatal(err)
	}
	if _, got, err := ReadNPY(p); err != nil || !slices.Equal(got, big) {
		t.Errorf("%d values: read back equal = %v, err %v", len(big), slices.Equal(got, big), err)
	}
	py := pythonWithNumpy()
	if py == "" {
		t.Skip("no python3 with numpy")
	}
	np := filepath.Join(dir, "numpy.npy")
	script := "import sys, numpy as np; np.save(sys.argv[1], (np.arange(24, dtype=np.float32) / 8 - 1).reshape(2, 3, 4))"
	if out, err := exec.Command(py, "-c", script, np).CombinedOutput(); err != nil {
		t.Fatalf("numpy: %v\n%s", err, out)
	}
	shape, got, err = ReadNPY(np)
	if err != nil || !slices.Equal(shape, []int{2, 3, 4}) {
		t.Fatalf("ReadNPY(np.save) = %v, %v", shape, err)
	}
	for i, v := range got {
		if want := float32(i)/8 - 1; v != want {
			t.Fatalf("value %d = %v, want %v", i, v, want)
		}
	}
}
