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
	if c != 1 && c != 3 {
		return fmt.Errorf("grid: write %s: %d channels, want 1 (gray) or 3 (RGB)", path, c)
	}
	if n <= 0 || h <= 0 || w <= 0 || cols <= 0 {
		return fmt.Errorf("grid: write %s: n=%d h=%d w=%d cols=%d must all be positive", path, n, h, w, cols)
	}
	total, ok := product(n, c, h, w)
	if !ok || total != len(imgs) {
		return fmt.Errorf("grid: write %s: %d values, want n*c*h*w = %d*%d*%d*%d", path, len(imgs), n, c, h, w)
	}
	cols = min(cols, n)
	rows := (n + cols - 1) / cols
	gw, ok1 := product(cols, w+Gap)
	gh, ok2 := product(rows, h+Gap)
	if !ok1 || !ok2 || gw-Gap > math.MaxInt32 || gh-Gap > math.MaxInt32 {
		return fmt.Errorf("grid: write %s: grid too large", path)
	}
	rect := image.Rect(0, 0, gw-Gap, gh-Gap)
	plane := h * w
	var img image.Image
	if c == 1 {
		g := image.NewGray(rect)
		for i := range n {
			x0, y0 := (i%cols)*(w+Gap), (i/cols)*(h+Gap)
			src := imgs[i*plane : (i+1)*plane]
			for y := range h {
				row := g.Pix[g.PixOffset(x0, y0+y):]
				for x := range w {
					row[x] = toByte(src[y*w+x])
				}
			}
		}
		img = g
	} else {
		g := image.NewNRGBA(rect)
		// Opaque black background: the gaps and any empty cells.
		for k := 3; k < len(g.Pix); k += 4 {
			g.Pix[k] = 0xff
		}
		for i := range n {
			x0, y0 := (i%cols)*(w+Gap), (i/cols)*(h+Gap)
			base := i * 3 * plane
			r, gr, b := imgs[base:base+plane], imgs[base+plane:base+2*plane], imgs[base+2*plane:base+3*plane]
			for y := range h {
				row := g.Pix[g.PixOffset(x0, y0+y):]
				for x := range w {
					k := y*w + x
					row[4*x] = toByte(r[k])
					row[4*x+1] = toByte(gr[k])
					row[4*x+2] = toByte(b[k])
				}
			}
		}
		img = g
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
	for _, d := range shape {
		if d < 0 {
			return fmt.Errorf("grid: write %s: negative dimension in shape %v", path, shape)
		}
	}
	total, ok := product(shape...)
	if !ok || total != len(data) {
		return fmt.Errorf("grid: write %s: shape %v does not hold %d values", path, shape, len(data))
	}
	header := npyHeader(shape)
	if len(header) > math.MaxUint16 {
		return fmt.Errorf("grid: write %s: .npy v1.0 header too long (%d bytes) for shape with %d dimensions", path, len(header), len(shape))
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		pre := append([]byte("\x93NUMPY\x01\x00"), 0, 0)
		binary.LittleEndian.PutUint16(pre[8:], uint16(len(header)))
		if _, err := w.Write(pre); err != nil {
			return err
		}
		if _, err := io.WriteString(w, header); err != nil {
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
