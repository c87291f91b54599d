package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path/filepath"
)

// gzipMagic is how every gzip stream starts.
var gzipMagic = []byte{0x1f, 0x8b}

// errTruncatedGzip is what reading a gzip stream that ends early fails with.
var errTruncatedGzip = errors.New("truncated gzip: the compressed stream ends early")

// uncompressed is how every file that may be gzip is opened: it returns the
// content of r, the stream of the file name, and whether r is gzip. A raw
// stream is returned as it is, unless name ends in ".gz" or ".tgz", which
// must be gzip; a gzip one (told by its magic) is decompressed, its read
// errors saying "truncated gzip" or "corrupt gzip". Errors name the file.
func uncompressed(name string, r io.Reader) (content io.Reader, gz bool, err error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(len(gzipMagic))
	if !bytes.Equal(head, gzipMagic) {
		if ext := filepath.Ext(name); ext != ".gz" && ext != ".tgz" {
			return br, false, nil
		}
		start := fmt.Sprintf("starts with % x", head)
		if len(head) == 0 {
			start = "empty"
		}
		return nil, false, fmt.Errorf("data: %s: not gzip (%s, gzip files start with % x)", name, start, gzipMagic)
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, false, fmt.Errorf("data: %s: %w", name, gzipError(err))
	}
	return gzipStream{zr}, true, nil
}

// gzipStream is a gzip stream whose read errors say what is wrong with it.
type gzipStream struct{ zr *gzip.Reader }

func (g gzipStream) Read(p []byte) (int, error) {
	n, err := g.zr.Read(p)
	if err != nil && err != io.EOF {
		err = gzipError(err)
	}
	return n, err
}

// gzipError says what the error err of a gzip reader means: a stream that
// ends early is truncated, anything else from the decompressor is corrupt.
func gzipError(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errTruncatedGzip
	}
	return fmt.Errorf("corrupt gzip: %w", err)
}
