package ckpt

import (
	"bytes"
	"math"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to the decoder behind Load (Load is
// os.ReadFile plus decode). It must never panic, and whatever it accepts
// must survive a Save-format round trip unchanged. The seed corpus is in
// testdata/fuzz/FuzzLoad.
func FuzzLoad(f *testing.F) {
	f.Add([]byte{})
	f.Add(rawFile(`{}      `, nil))
	f.Add(rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8)))
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, meta, err := decode(b)
		if err != nil {
			if ts != nil || meta != nil {
				t.Fatal("results returned with an error")
			}
			return
		}
		if meta == nil {
			t.Fatal("nil metadata map")
		}
		var data int
		for _, tn := range ts {
			n := 1
			for _, d := range tn.Shape {
				n *= d
			}
			if n != len(tn.Data) {
				t.Fatalf("tensor %q: shape %v but %d values", tn.Name, tn.Shape, len(tn.Data))
			}
			data += 4 * len(tn.Data)
		}
		if data > len(b) {
			t.Fatalf("decoded %d data bytes from a %d-byte file", data, len(b))
		}
		hdr, _, err := buildHeader(ts, meta)
		if err != nil {
			t.Fatalf("accepted file does not re-encode: %v", err)
		}
		var buf bytes.Buffer
		buf.Write(rawFile(string(hdr), nil))
		for _, tn := range ts {
			for _, v := range tn.Data {
				u := math.Float32bits(v)
				buf.Write([]byte{byte(u), byte(u >> 8), byte(u >> 16), byte(u >> 24)})
			}
		}
		ts2, meta2, err := decode(buf.Bytes())
		if err != nil {
			t.Fatalf("re-encoded file does not decode: %v", err)
		}
		if len(ts2) != len(ts) || len(meta2) != len(meta) {
			t.Fatalf("round trip changed the file")
		}
		for k, v := range meta {
			if meta2[k] != v {
				t.Fatalf("metadata %q changed", k)
			}
		}
		for i := range ts {
			a, c := ts[i], ts2[i]
			if a.Name != c.Name || len(a.Shape) != len(c.Shape) || len(a.Data) != len(c.Data) {
				t.Fatalf("tensor %d changed: %q -> %q", i, a.Name, c.Name)
			}
			for k := range a.Shape {
				if a.Shape[k] != c.Shape[k] {
					t.Fatalf("tensor %q shape changed", a.Name)
				}
			}
			for k := range a.Data {
				if math.Float32bits(a.Data[k]) != math.Float32bits(c.Data[k]) {
					t.Fatalf("tensor %q data changed", a.Name)
				}
			}
		}
	})
}
