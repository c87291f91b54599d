package sample

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"slices"

	"github.com/scoregen/scoregen/grid"
)

// npyFile is a .npy file of float32 images, written and read image range
// by image range in place.
type npyFile struct {
	f    *os.File
	path string
	off  int64 // the data's offset
	dim  int   // values per image
	buf  []byte
}

// createNPY makes path a .npy of shape (n, shape...) at its final size,
// its data zero, by writing a temporary file and renaming it, and opens it.
func createNPY(path string, n int, shape []int) (*npyFile, error) {
	full := append([]int{n}, shape...)
	head, err := grid.NPYHeader(full)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	tmp := npyTemp(path)
	f, err := os.Create(tmp)
	if err != nil {
		return nil, err
	}
	size := int64(len(head)) + 4*int64(n)*int64(imageSize(shape))
	_, err = f.Write(head)
	if err == nil {
		err = f.Truncate(size) // sparse: the batches fill it
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("creating %s: %w", path, err)
	}
	return openNPY(path, n, shape)
}

// npyTemp is the temporary file createNPY writes before renaming it to path.
func npyTemp(path string) string { return path + ".tmp" }

// removeNPYTemp removes the temporary file that a kill during createNPY
// left next to path, saying whether there was one.
func removeNPYTemp(path string) (bool, error) {
	err := os.Remove(npyTemp(path))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// openNPY opens the .npy at path for reading and writing, checking that
// it holds n images of shape as createNPY makes them.
func openNPY(path string, n int, shape []int) (*npyFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	got, off, err := grid.ReadNPYHeader(f)
	if err == nil && !slices.Equal(got, append([]int{n}, shape...)) {
		err = fmt.Errorf("holds an array of shape %v, want (%d, %v)", got, n, shape)
	}
	if err == nil {
		var fi os.FileInfo
		if fi, err = f.Stat(); err == nil && fi.Size() != off+4*int64(n)*int64(imageSize(shape)) {
			err = fmt.Errorf("is %d bytes long, want %d for its header's shape", fi.Size(), off+4*int64(n)*int64(imageSize(shape)))
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &npyFile{f: f, path: path, off: off, dim: imageSize(shape)}, nil
}

func imageSize(shape []int) int {
	d := 1
	for _, v := range shape {
		d *= v
	}
	return d
}

// write stores images i, i+1, ... (x holds whole images) and syncs them
// to disk.
func (n *npyFile) write(i int, x []float32) error {
	n.buf = n.buf[:0]
	for _, v := range x {
		n.buf = binary.LittleEndian.AppendUint32(n.buf, math.Float32bits(v))
	}
	if _, err := n.f.WriteAt(n.buf, n.off+4*int64(i)*int64(n.dim)); err != nil {
		return err
	}
	return n.f.Sync()
}

// read loads images i, i+1, ... into x (whole images).
func (n *npyFile) read(i int, x []float32) error {
	if cap(n.buf) < 4*len(x) {
		n.buf = make([]byte, 4*len(x))
	}
	b := n.buf[:4*len(x)]
	if _, err := n.f.ReadAt(b, n.off+4*int64(i)*int64(n.dim)); err != nil {
		return fmt.Errorf("%s: %w", n.path, err)
	}
	for j := range x {
		x[j] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*j:]))
	}
	return nil
}

func (n *npyFile) close() error { return n.f.Close() }
