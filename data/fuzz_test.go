package data

import (
	"bytes"
	"strings"
	"testing"
)

// The seed corpora are in testdata/fuzz/FuzzReadIDX and FuzzReadCIFAR.

func FuzzReadIDX(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, magic := range []uint32{idxImagesMagic, idxLabelsMagic} {
			dims, body, err := decodeIDX("fuzz-input", bytes.NewReader(b), int64(len(b)), magic)
			if err != nil {
				if !strings.Contains(err.Error(), "fuzz-input") {
					t.Fatalf("error %q does not name the file", err)
				}
				continue
			}
			if len(dims) != int(magic&0xff) {
				t.Fatalf("%d dimensions for magic 0x%08x", len(dims), magic)
			}
			n := 1
			for _, d := range dims {
				n *= d
			}
			if n != len(body) {
				t.Fatalf("dimensions %v but %d bytes of body", dims, len(body))
			}
			isGzip := len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b
			if !isGzip && !bytes.Equal(body, b[len(b)-n:]) {
				t.Fatal("body of a raw file is not the bytes after the header")
			}
		}
	})
}

// FuzzReadCIFAR decodes each input as it is and padded with zeros to a
// whole number of records, so that short inputs also reach the decoding of
// records. Inputs longer than two records are skipped: their extra records
// only add loop-count "coverage", and minimising such long inputs (which
// takes time quadratic in their length) would stall the fuzzer; the unit
// tests cover files of many records.
func FuzzReadCIFAR(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 2*cifarRecordSize {
			t.Skip()
		}
		padded := append(bytes.Clone(b), make([]byte, (cifarRecordSize-len(b)%cifarRecordSize)%cifarRecordSize)...)
		for _, in := range [][]byte{b, padded} {
			labels, pixels, err := decodeCIFAR("fuzz-input", in, 0)
			if err != nil {
				if !strings.Contains(err.Error(), "fuzz-input") {
					t.Fatalf("error %q does not name the file", err)
				}
				continue
			}
			n := len(labels)
			if n == 0 || n*cifarRecordSize != len(in) || len(pixels) != n*cifarImageBytes {
				t.Fatalf("%d bytes gave %d labels and %d pixels", len(in), n, len(pixels))
			}
			for i := range n {
				rec := in[i*cifarRecordSize : (i+1)*cifarRecordSize]
				if labels[i] != rec[0] || labels[i] > 9 || !bytes.Equal(pixels[i*cifarImageBytes:(i+1)*cifarImageBytes], rec[1:]) {
					t.Fatalf("record %d decoded wrongly", i)
				}
			}
		}
	})
}
