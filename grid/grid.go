// Package grid writes batches of generated samples to disk for people and
// tools to look at: as one PNG image grid, or as a NumPy .npy array.
//
// Both writers are atomic: the file is written to a temporary file in the
// same folder, synced and renamed over the destination, so a reader never
// sees a partial file and a failed write leaves an existing file untouched.
package grid

import (
	"encoding/binary"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"math/bits"
	"os"
	"strconv"
	"strings"

	"github.com/scoregen/scoregen/internal/atomicfile"
)

// Gap is the width in pixels of the black gap between images in a grid.
const Gap = 2

// WritePNG writes n images, given in NCHW order with values in [-1, 1], as
// one PNG grid with cols columns (fewer if n < cols) and rows as needed, the
// images separated by a Gap-pixel black gap (no border around the grid).
// Image i sits at row i/cols, column i%cols. Values are clamped to [-1, 1]
// and mapped to 0..255 by round((v+1)*127.5); NaN maps to 0. c must be 1
// (8-bit grayscale) or 3 (8-bit RGB); len(imgs) must be n*c*h*w.
func WritePNG(path string, imgs []float32, n, c, h, w, cols int) error {
	g, err := NewGrid(n, c, h, w, cols)
	if err != nil {
		return fmt.Errorf("grid: write %s: %w", path, err)
	}
	if total, _ := product(n, c, h, w); total != len(imgs) {
		return fmt.Errorf("grid: write %s: %d values, want n*c*h*w = %d*%d*%d*%d", path, len(imgs), n, c, h, w)
	}
	for i := range n {
		g.Set(i, imgs[i*g.size:(i+1)*g.size])
	}
	return g.WritePNG(path)
}

// Grid is a PNG grid filled one image at a time, as WritePNG lays it out:
// it holds the grid's 8-bit pixels, not the images.
type Grid struct {
	c, h, w, cols, size int
	gray                *image.Gray  // c = 1
	rgb                 *image.NRGBA // c = 3
}

// layout is the rows and columns of a grid of n images of h x w with at
// most cols columns, and its width and height in pixels plus one Gap
// (saturated, not wrapped, when they overflow).
func layout(n, h, w, cols int) (rows, c, gw, gh int) {
	c = min(cols, n)
	rows = (n + c - 1) / c
	var ok bool
	if gw, ok = product(c, w+Gap); !ok {
		gw = math.MaxInt
	}
	if gh, ok = product(rows, h+Gap); !ok {
		gh = math.MaxInt
	}
	return rows, c, gw, gh
}

// GridBytes is the memory a Grid of n images of c x h x w with cols
// columns holds (8-bit gray, or RGBA for c = 3), so that a caller can check
// it fits before making one.
func GridBytes(n, c, h, w, cols int) float64 {
	_, _, gw, gh := layout(n, h, w, cols)
	px := 1.0
	if c == 3 {
		px = 4
	}
	return float64(gw) * float64(gh) * px
}

// NewGrid makes an empty (black) grid for n images of c x h x w with cols
// columns, laid out as WritePNG does.
func NewGrid(n, c, h, w, cols int) (*Grid, error) {
	if c != 1 && c != 3 {
		return nil, fmt.Errorf("%d channels, want 1 (gray) or 3 (RGB)", c)
	}
	if n <= 0 || h <= 0 || w <= 0 || cols <= 0 {
		return nil, fmt.Errorf("n=%d h=%d w=%d cols=%d must all be positive", n, h, w, cols)
	}
	if _, ok := product(n, c, h, w); !ok {
		return nil, fmt.Errorf("%d images of %d x %d x %d: too many values", n, c, h, w)
	}
	rows, cols, gw, gh := layout(n, h, w, cols)
	if gw-Gap > math.MaxInt32 || gh-Gap > math.MaxInt32 {
		return nil, fmt.Errorf("grid of %d x %d images of %d x %d too large", rows, cols, h, w)
	}
	rect := image.Rect(0, 0, gw-Gap, gh-Gap)
	g := &Grid{c: c, h: h, w: w, cols: cols, size: c * h * w}
	if c == 1 {
		g.gray = image.NewGray(rect)
		return g, nil
	}
	g.rgb = image.NewNRGBA(rect)
	// Opaque black background: the gaps and any empty cells.
	for k := 3; k < len(g.rgb.Pix); k += 4 {
		g.rgb.Pix[k] = 0xff
	}
	return g, nil
}

// Set draws image i (c*h*w values, CHW) into its cell. It panics if i is
// not a cell of the grid or img is not one image.
func (g *Grid) Set(i int, img []float32) {
	if len(img) != g.size {
		panic(fmt.Sprintf("grid: image of %d values, want %d", len(img), g.size))
	}
	x0, y0 := (i%g.cols)*(g.w+Gap), (i/g.cols)*(g.h+Gap)
	plane := g.h * g.w
	for y := range g.h {
		for x := range g.w {
			k := y*g.w + x
			if g.gray != nil {
				g.gray.Pix[g.gray.PixOffset(x0+x, y0+y)] = toByte(img[k])
				continue
			}
			o := g.rgb.PixOffset(x0+x, y0+y)
			g.rgb.Pix[o], g.rgb.Pix[o+1], g.rgb.Pix[o+2] = toByte(img[k]), toByte(img[plane+k]), toByte(img[2*plane+k])
		}
	}
}

// WritePNG writes the grid to path, atomically.
func (g *Grid) WritePNG(path string) error {
	var img image.Image = g.rgb
	if g.gray != nil {
		img = g.gray
	}
	return atomicfile.Write(path, func(wr io.Writer) error {
		return png.Encode(wr, img)
	})
}

// toByte maps v in [-1, 1] to 0..255, clamping, with NaN as 0.
func toByte(v float32) uint8 {
	f := float64(v)
	switch {
	case !(f > -1): // also NaN
		return 0
	case f >= 1:
		return 255
	}
	return uint8(math.Round((f + 1) * 127.5))
}

// WriteNPY writes data as a NumPy .npy file, format version 1.0: dtype '<f4'
// (little-endian float32), C order, the given shape (an empty shape is a
// 0-d array holding one value). The header is padded with spaces and ends
// with a newline so that the data starts at a multiple of 64 bytes.
func WriteNPY(path string, data []float32, shape []int) error {
	pre, err := NPYHeader(shape)
	if err != nil {
		return fmt.Errorf("grid: write %s: %w", path, err)
	}
	if total, _ := product(shape...); total != len(data) {
		return fmt.Errorf("grid: write %s: shape %v does not hold %d values", path, shape, len(data))
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		if _, err := w.Write(pre); err != nil {
			return err
		}
		buf := make([]byte, 0, 1<<16)
		for _, v := range data {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			if len(buf) == cap(buf) {
				if _, err := w.Write(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
		_, err := w.Write(buf)
		return err
	})
}

// NPYHeader is what WriteNPY writes before the data for shape: the magic,
// the version, the header's length and the header itself. Its length is a
// multiple of 64, the data's offset in the file.
func NPYHeader(shape []int) ([]byte, error) {
	for _, d := range shape {
		if d < 0 {
			return nil, fmt.Errorf("negative dimension in shape %v", shape)
		}
	}
	if _, ok := product(shape...); !ok {
		return nil, fmt.Errorf("shape %v overflows", shape)
	}
	header := npyHeader(shape)
	if len(header) > math.MaxUint16 {
		return nil, fmt.Errorf(".npy v1.0 header too long (%d bytes) for shape with %d dimensions", len(header), len(shape))
	}
	pre := append([]byte(npyMagic+"\x01\x00"), 0, 0)
	binary.LittleEndian.PutUint16(pre[8:], uint16(len(header)))
	return append(pre, header...), nil
}

const npyMagic = "\x93NUMPY"

// ReadNPYHeader reads the header of a .npy file as WriteNPY writes it
// ('<f4', C order, version 1.0, its padding) and returns the array's shape
// and the data's offset in the file. Any other header is an error.
func ReadNPYHeader(r io.Reader) (shape []int, off int64, err error) {
	pre := make([]byte, 10)
	if _, err := io.ReadFull(r, pre); err != nil {
		return nil, 0, fmt.Errorf("reading the .npy header: %w", err)
	}
	if string(pre[:8]) != npyMagic+"\x01\x00" {
		return nil, 0, fmt.Errorf("not a .npy file of version 1.0 (starts %q)", pre[:8])
	}
	header := make([]byte, binary.LittleEndian.Uint16(pre[8:]))
	if _, err := io.ReadFull(r, header); err != nil {
		return nil, 0, fmt.Errorf("reading the .npy header: %w", err)
	}
	const lead = "{'descr': '<f4', 'fortran_order': False, 'shape': ("
	dims, _, ok := strings.Cut(strings.TrimPrefix(string(header), lead), ")")
	if !ok || !strings.HasPrefix(string(header), lead) {
		return nil, 0, fmt.Errorf(".npy header %q: want little-endian float32 in C order", header)
	}
	for _, d := range strings.Split(strings.TrimSuffix(dims, ","), ",") {
		if d = strings.TrimSpace(d); d == "" {
			continue
		}
		v, err := strconv.Atoi(d)
		if err != nil || v < 0 {
			return nil, 0, fmt.Errorf(".npy header %q: bad dimension %q", header, d)
		}
		shape = append(shape, v)
	}
	if npyHeader(shape) != string(header) {
		return nil, 0, fmt.Errorf(".npy header %q: not as this package writes it for shape %v", header, shape)
	}
	return shape, int64(len(pre) + len(header)), nil
}

// ReadNPY reads a whole .npy file of float32 values as WriteNPY (or
// NumPy's np.save of a C-ordered float32 array) writes it: its shape and
// its values. A file whose length does not match its header is an error
// naming the file.
func ReadNPY(path string) (shape []int, data []float32, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	shape, off, err := ReadNPYHeader(f)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	n, ok := product(shape...)
	if !ok {
		return nil, nil, fmt.Errorf("%s: shape %v overflows", path, shape)
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	// Compared by division: 4*n can overflow for a header that lies.
	if body := fi.Size() - off; body%4 != 0 || body/4 != int64(n) {
		return nil, nil, fmt.Errorf("%s: %d bytes of data, want 4 for each of the %d values of shape %v", path, body, n, shape)
	}
	data = make([]float32, n)
	buf := make([]byte, 4<<16)
	for i := 0; i < n; {
		b := buf[:4*min(len(buf)/4, n-i)]
		if _, err := io.ReadFull(f, b); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		for j := 0; j < len(b); j, i = j+4, i+1 {
			data[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[j:]))
		}
	}
	return shape, data, nil
}

// npyHeader returns the .npy v1.0 header dictionary, padded with spaces and
// ending in '\n' so that 10 + len(header) is a multiple of 64.
func npyHeader(shape []int) string {
	var s strings.Builder
	s.WriteString("{'descr': '<f4', 'fortran_order': False, 'shape': (")
	for i, d := range shape {
		if i > 0 {
			s.WriteString(", ")
		}
		s.WriteString(strconv.Itoa(d))
	}
	if len(shape) == 1 {
		s.WriteByte(',')
	}
	s.WriteString("), }")
	const prefix = 10 // magic (6), version (2), header length (2)
	pad := (64 - (prefix+s.Len()+1)%64) % 64
	s.WriteString(strings.Repeat(" ", pad))
	s.WriteByte('\n')
	return s.String()
}

// product multiplies non-negative ints, reporting false on overflow.
func product(xs ...int) (int, bool) {
	p := 1
	for _, x := range xs {
		if x < 0 {
			return 0, false
		}
		hi, lo := bits.Mul64(uint64(p), uint64(x))
		if hi != 0 || lo > math.MaxInt {
			return 0, false
		}
		p = int(lo)
	}
	return p, true
}

// Columns is the number of columns of a near-square grid of n images.
func Columns(n int) int { return int(math.Ceil(math.Sqrt(float64(n)))) }
