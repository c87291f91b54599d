package data

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// Magic numbers of the two idx files of MNIST and Fashion-MNIST: two zero
// bytes, the element type (0x08 = unsigned byte) and the number of dimensions.
const (
	idxImagesMagic = 0x00000803 // ubyte, 3 dims: count, rows, columns
	idxLabelsMagic = 0x00000801 // ubyte, 1 dim: count
)

// maxIDXBytes bounds the body an idx header may announce (MNIST's largest
// file is 47 MB); a larger claim is a corrupt header, not a data set.
const maxIDXBytes = 1 << 32

// ReadIDXImages reads an idx image file (magic 0x00000803), raw or gzip
// (told apart by the gzip magic), and returns n images of h×w bytes each,
// row by row. The file must hold exactly the bytes its header announces.
func ReadIDXImages(path string) (n, h, w int, pixels []uint8, err error) {
	dims, body, err := readIDXFile(path, idxImagesMagic)
	if err != nil {
		return 0, 0, 0, nil, err
	}
	return dims[0], dims[1], dims[2], body, nil
}

// ReadIDXLabels reads an idx label file (magic 0x00000801), raw or gzip, and
// returns one byte per label. The file must hold exactly the bytes its
// header announces.
func ReadIDXLabels(path string) ([]uint8, error) {
	_, body, err := readIDXFile(path, idxLabelsMagic)
	return body, err
}

func readIDXFile(path string, magic uint32) ([]int, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	var hint int64
	if st, err := f.Stat(); err == nil {
		hint = st.Size()
	}
	return decodeIDX(path, f, hint, magic)
}

// decodeIDX parses the idx stream r (raw or gzip, see uncompressed),
// expecting magic. name is used in errors; sizeHint, when it is the raw
// stream's length, lets the body be allocated once.
func decodeIDX(name string, r io.Reader, sizeHint int64, magic uint32) ([]int, []byte, error) {
	in, gz, err := uncompressed(name, r)
	if err != nil {
		return nil, nil, err
	}
	what := "file size" // what the size in a size error measures
	if gz {
		what, sizeHint = "decompressed size", 0
	}

	var word [4]byte
	if got, err := io.ReadFull(in, word[:]); err != nil {
		return nil, nil, idxReadError(name, what, "at least 4 bytes", int64(got), err)
	}
	if m := binary.BigEndian.Uint32(word[:]); m != magic {
		return nil, nil, fmt.Errorf("data: %s: bad magic number 0x%08x, expected 0x%08x (%s)",
			name, m, magic, idxKind(magic))
	}
	ndims := int(magic & 0xff)
	headerLen := int64(4 + 4*ndims)

	dims := make([]int, ndims)
	bodyLen := int64(1)
	for i := range dims {
		if got, err := io.ReadFull(in, word[:]); err != nil {
			return nil, nil, idxReadError(name, what, fmt.Sprintf("at least %d bytes", headerLen), int64(4+4*i+got), err)
		}
		d := int64(binary.BigEndian.Uint32(word[:]))
		dims[i] = int(d)
		if d > 0 && bodyLen > maxIDXBytes/d {
			return nil, nil, fmt.Errorf("data: %s: header announces dimensions %v..., more than %d bytes",
				name, dims[:i+1], int64(maxIDXBytes))
		}
		bodyLen *= d
	}
	want := headerLen + bodyLen

	body, err := readUpTo(in, bodyLen, sizeHint-headerLen)
	if err != nil {
		return nil, nil, idxReadError(name, what, fmt.Sprintf("%d bytes", want), headerLen+int64(len(body)), err)
	}
	if int64(len(body)) < bodyLen {
		return nil, nil, fmt.Errorf("data: %s: truncated: expected %d bytes (%s, dimensions %v), %s is %d",
			name, want, idxKind(magic), dims, what, headerLen+int64(len(body)))
	}
	extra, err := io.Copy(io.Discard, in)
	if err != nil {
		return nil, nil, idxReadError(name, what, fmt.Sprintf("%d bytes", want), want+extra, err)
	}
	if extra > 0 {
		return nil, nil, fmt.Errorf("data: %s: wrong size: expected %d bytes (%s, dimensions %v), %s is %d",
			name, want, idxKind(magic), dims, what, want+extra)
	}
	return dims, body, nil
}

// readUpTo reads at most n bytes of r, stopping early at the end of r. hint,
// when positive, is how many bytes r probably has; the buffer grows by
// doubling from there so a lying header cannot make it allocate much more
// than the stream really holds.
func readUpTo(r io.Reader, n, hint int64) ([]byte, error) {
	size := min(n, int64(1<<20))
	if hint > 0 {
		size = min(n, hint)
	}
	buf := make([]byte, size)
	got := int64(0)
	for got < n {
		if got == int64(len(buf)) {
			bigger := make([]byte, min(n, 2*int64(len(buf))+1))
			copy(bigger, buf)
			buf = bigger
		}
		m, err := r.Read(buf[got:])
		got += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			return buf[:got], err
		}
	}
	return buf[:got], nil
}

// idxReadError reports a read that failed part-way: a stream that ends
// early is a truncated file, anything else is passed on.
func idxReadError(name, what, want string, got int64, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("data: %s: truncated: expected %s, %s is %d", name, want, what, got)
	}
	return fmt.Errorf("data: %s: %v (%s %d so far, expected %s)", name, err, what, got, want)
}

func idxKind(magic uint32) string {
	switch magic {
	case idxImagesMagic:
		return "idx images"
	case idxLabelsMagic:
		return "idx labels"
	}
	return "idx"
}
