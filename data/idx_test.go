package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// idxBytes builds an idx file: magic, big-endian dimensions, body.
func idxBytes(magic uint32, dims []int, body []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, magic)
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, uint32(d))
	}
	b.Write(body)
	return b.Bytes()
}

func gzipBytes(t testing.TB, b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func put(t testing.TB, path string, b []byte) string {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// pattern returns n bytes that differ from one position to the next.
func pattern(n, salt int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + salt*13 + i/251)
	}
	return b
}

// wantErr fails unless err is an error whose text contains every part.
func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, expected one mentioning %q", parts)
	}
	t.Log(err)
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

func TestReadIDXRawAndGzip(t *testing.T) {
	dir := t.TempDir()
	const n, h, w = 5, 4, 3
	pix := pattern(n*h*w, 1)
	lab := []byte{3, 1, 4, 1, 5}
	images := idxBytes(idxImagesMagic, []int{n, h, w}, pix)
	labels := idxBytes(idxLabelsMagic, []int{n}, lab)
	for _, gz := range []bool{false, true} {
		img, lbl := images, labels
		suffix := ""
		if gz {
			img, lbl, suffix = gzipBytes(t, images), gzipBytes(t, labels), ".gz"
		}
		ip := put(t, filepath.Join(dir, "images"+suffix), img)
		lp := put(t, filepath.Join(dir, "labels"+suffix), lbl)

		gn, gh, gw, gpix, err := ReadIDXImages(ip)
		if err != nil {
			t.Fatalf("gzip=%v: %v", gz, err)
		}
		if gn != n || gh != h || gw != w || !bytes.Equal(gpix, pix) {
			t.Errorf("gzip=%v: got %d×%d×%d and different pixels, wrote %d×%d×%d", gz, gn, gh, gw, n, h, w)
		}
		glab, err := ReadIDXLabels(lp)
		if err != nil {
			t.Fatalf("gzip=%v: %v", gz, err)
		}
		if !bytes.Equal(glab, lab) {
			t.Errorf("gzip=%v: labels %v, wrote %v", gz, glab, lab)
		}
	}
}

func TestReadIDXErrors(t *testing.T) {
	dir := t.TempDir()
	good := idxBytes(idxImagesMagic, []int{4, 3, 3}, pattern(36, 2))
	goodLabels := idxBytes(idxLabelsMagic, []int{4}, []byte{0, 1, 2, 3})
	cases := []struct {
		name   string
		data   []byte
		labels bool // read as labels, not images
		parts  []string
	}{
		{"empty", nil, false, []string{"truncated", "at least 4 bytes", "file size is 0"}},
		{"short-header", good[:10], false, []string{"truncated", "at least 16 bytes", "file size is 10"}},
		{"truncated", good[:40], false, []string{"truncated", "expected 52 bytes", "file size is 40"}},
		{"truncated-gzip-body", gzipBytes(t, good[:40]), false, []string{"truncated", "expected 52 bytes", "decompressed size is 40"}},
		{"cut-gzip-stream", gzipBytes(t, good)[:30], false, []string{"truncated gzip", "expected 52 bytes"}},
		{"cut-gzip-header.gz", gzipBytes(t, good)[:5], false, []string{"truncated gzip"}},
		{"raw-named.gz", good, false, []string{"not gzip (starts with 00 00, gzip files start with 1f 8b)"}},
		{"zip-named.gz", []byte("PK\x03\x04"), false, []string{"not gzip (starts with 50 4b, gzip files start with 1f 8b)"}},
		{"empty.gz", nil, false, []string{"not gzip (empty, gzip files start with 1f 8b)"}},
		{"too-long", append(append([]byte{}, good...), 9, 9), false, []string{"wrong size", "expected 52 bytes", "file size is 54"}},
		{"too-long-gzip", gzipBytes(t, append(append([]byte{}, good...), 9)), false, []string{"wrong size", "expected 52 bytes", "decompressed size is 53"}},
		{"labels-as-images", goodLabels, false, []string{"bad magic number 0x00000801", "expected 0x00000803"}},
		{"images-as-labels", good, true, []string{"bad magic number 0x00000803", "expected 0x00000801"}},
		{"float-type", idxBytes(0x00000d03, []int{1, 1, 1}, make([]byte, 4)), false, []string{"bad magic number 0x00000d03"}},
		{"huge-dims", idxBytes(idxImagesMagic, []int{1 << 20, 1 << 20, 1 << 20}, nil), false, []string{"more than"}},
		{"cut-gzip-magic", []byte{0x1f, 0x8b, 0, 0}, false, []string{"truncated gzip"}},
		{"bad-gzip-method", []byte{0x1f, 0x8b, 7, 0, 0, 0, 0, 0, 0, 0}, false, []string{"corrupt gzip", "invalid header"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := put(t, filepath.Join(dir, c.name), c.data)
			var err error
			if c.labels {
				_, err = ReadIDXLabels(path)
			} else {
				_, _, _, _, err = ReadIDXImages(path)
			}
			wantErr(t, err, append([]string{path}, c.parts...)...)
		})
	}
	_, err := ReadIDXLabels(filepath.Join(dir, "missing"))
	wantErr(t, err, filepath.Join(dir, "missing"))
}
