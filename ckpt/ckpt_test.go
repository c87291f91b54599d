package ckpt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func sample() []Tensor {
	return []Tensor{
		{Name: "conv.weight", Shape: []int{2, 3}, Data: []float32{1, -2, 3.5, 0, float32(math.Inf(1)), -0.25}},
		{Name: "b", Shape: []int{3}, Data: []float32{7, 8, 9}},
		{Name: "scalar", Shape: []int{}, Data: []float32{42}},
		{Name: "empty", Shape: []int{0, 4}, Data: []float32{}},
		{Name: "ema/conv.weight<&>", Shape: []int{1, 1, 2}, Data: []float32{math.MaxFloat32, math.SmallestNonzeroFloat32}},
	}
}

func equalTensors(t *testing.T, got, want []Tensor) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d tensors, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Name != w.Name || !reflect.DeepEqual(append([]int{}, g.Shape...), append([]int{}, w.Shape...)) || len(g.Data) != len(w.Data) {
			t.Fatalf("tensor %d: got %q %v (%d values), want %q %v (%d values)", i, g.Name, g.Shape, len(g.Data), w.Name, w.Shape, len(w.Data))
		}
		for k := range w.Data {
			if math.Float32bits(g.Data[k]) != math.Float32bits(w.Data[k]) {
				t.Fatalf("tensor %q[%d] = %v, want %v", w.Name, k, g.Data[k], w.Data[k])
			}
		}
	}
}

func noTemps(t *testing.T, dir string) {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		if strings.Contains(de.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", de.Name())
		}
	}
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, Name(12))
	want := sample()
	want = append(want, Tensor{Name: "nan", Shape: []int{2}, Data: []float32{float32(math.NaN()), math.Float32frombits(0x7fc00001)}})
	if err := Save(p, want, nil); err != nil {
		t.Fatal(err)
	}
	got, meta, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	equalTensors(t, got, want)
	if meta == nil || len(meta) != 0 {
		t.Errorf("meta = %#v, want empty non-nil map", meta)
	}
	noTemps(t, dir)
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
}

func TestRoundTripLarge(t *testing.T) {
	// More than the 64 KiB conversion buffer, not a multiple of it.
	n := 100_003
	d := make([]float32, n)
	for i := range d {
		d[i] = float32(i) * 0.5
	}
	want := []Tensor{{Name: "a", Shape: []int{n}, Data: d}, {Name: "b", Shape: []int{1}, Data: []float32{-1}}}
	p := filepath.Join(t.TempDir(), "x.safetensors")
	if err := Save(p, want, nil); err != nil {
		t.Fatal(err)
	}
	got, _, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	equalTensors(t, got, want)
}

func TestMetadataRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.safetensors")
	meta := map[string]string{
		"config":   `{"lr":0.0002,"model":"ncsnpp","tags":["a<b>","c&d"]}`,
		"step":     "1200",
		"rng":      "\x00\x01 tab\t newline\n quote\" backslash\\ unicode é ☃ \u2028",
		"":         "empty key",
		"empty":    "",
		"data_pos": "3:17",
	}
	if err := Save(p, sample(), meta); err != nil {
		t.Fatal(err)
	}
	got, gotMeta, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	equalTensors(t, got, sample())
	if !reflect.DeepEqual(gotMeta, meta) {
		t.Errorf("meta = %#v, want %#v", gotMeta, meta)
	}
}

// TestReferenceBytes checks Save's exact output against the byte vectors of
// the reference safetensors implementation's own serialization tests, with
// the checksum entry added to the metadata, and that Load reads both the
// reference's bytes (no checksum) and ours.
func TestReferenceBytes(t *testing.T) {
	f32 := func(vs ...float32) string {
		var b []byte
		for _, v := range vs {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
		return string(b)
	}
	cases := []struct {
		name     string
		tensors  []Tensor
		meta     map[string]string
		ref, our string // the reference's file, and Save's
	}{
		{
			"one tensor, no padding",
			[]Tensor{{Name: "attn.0", Shape: []int{1, 2, 3}, Data: []float32{0, 1, 2, 3, 4, 5}}},
			nil,
			"\x40\x00\x00\x00\x00\x00\x00\x00" +
				`{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}` +
				f32(0, 1, 2, 3, 4, 5),
			"\x70\x00\x00\x00\x00\x00\x00\x00" +
				`{"__metadata__":{"data_crc32c":"78743a5d"},"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}` + "      " +
				f32(0, 1, 2, 3, 4, 5),
		},
		{
			"one tensor, padded with 7 spaces",
			[]Tensor{{Name: "attn0", Shape: []int{1, 1, 2, 3}, Data: []float32{0, 1, 2, 3, 4, 5}}},
			nil,
			"\x48\x00\x00\x00\x00\x00\x00\x00" +
				`{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}` + "       " +
				f32(0, 1, 2, 3, 4, 5),
			"\x70\x00\x00\x00\x00\x00\x00\x00" +
				`{"__metadata__":{"data_crc32c":"78743a5d"},"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}` + "     " +
				f32(0, 1, 2, 3, 4, 5),
		},
		{
			"empty",
			nil,
			nil,
			"\x08\x00\x00\x00\x00\x00\x00\x00{}      ",
			"\x30\x00\x00\x00\x00\x00\x00\x00" + `{"__metadata__":{"data_crc32c":"00000000"}}` + "     ",
		},
		{
			"metadata only",
			nil,
			map[string]string{"framework": "pt"},
			"\x28\x00\x00\x00\x00\x00\x00\x00" + `{"__metadata__":{"framework":"pt"}}` + "     ",
			"\x40\x00\x00\x00\x00\x00\x00\x00" + `{"__metadata__":{"data_crc32c":"00000000","framework":"pt"}}` + "    ",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "ours.safetensors")
			if err := Save(p, c.tensors, c.meta); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.our {
				t.Fatalf("bytes differ:\n got %q\nwant %q", got, c.our)
			}
			ref := filepath.Join(dir, "ref.safetensors")
			if err := os.WriteFile(ref, []byte(c.ref), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{p, ref} {
				ts, meta, err := Load(p)
				if err != nil {
					t.Fatal(err)
				}
				equalTensors(t, ts, c.tensors)
				if len(meta) != len(c.meta) || len(c.meta) > 0 && !reflect.DeepEqual(meta, c.meta) {
					t.Errorf("%s: meta %v, want %v", p, meta, c.meta)
				}
			}
		})
	}
}

// TestLayout checks the byte layout of a file with several tensors and
// metadata against the format: length prefix, JSON keys, padding, offsets
// relative to the data start in the given order, little-endian data.
func TestLayout(t *testing.T) {
	p := filepath.Join(t.TempDir(), "l.safetensors")
	ts := sample()
	if err := Save(p, ts, map[string]string{"step": "5"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b)
	if n%8 != 0 {
		t.Errorf("header length %d not a multiple of 8", n)
	}
	hdr := b[8 : 8+n]
	trimmed := bytes.TrimRight(hdr, " ")
	if len(hdr)-len(trimmed) >= 8 || trimmed[len(trimmed)-1] != '}' {
		t.Errorf("bad padding: %q", hdr)
	}
	var h map[string]json.RawMessage
	if err := json.Unmarshal(hdr, &h); err != nil {
		t.Fatal(err)
	}
	data := b[8+n:]
	// The checksum covers exactly the data section.
	sum := crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))
	if want := fmt.Sprintf(`{"data_crc32c":"%08x","step":"5"}`, sum); string(h["__metadata__"]) != want {
		t.Errorf("__metadata__ = %s, want %s", h["__metadata__"], want)
	}
	var off uint64
	for _, tn := range ts {
		var info struct {
			Dtype       string   `json:"dtype"`
			Shape       []int    `json:"shape"`
			DataOffsets []uint64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(h[tn.Name], &info); err != nil {
			t.Fatalf("%s: %v (%s)", tn.Name, err, h[tn.Name])
		}
		if info.Dtype != "F32" || !reflect.DeepEqual(info.Shape, tn.Shape) || len(info.DataOffsets) != 2 {
			t.Fatalf("%s: header entry %s", tn.Name, h[tn.Name])
		}
		if info.DataOffsets[0] != off || info.DataOffsets[1] != off+4*uint64(len(tn.Data)) {
			t.Fatalf("%s: offsets %v, want [%d,%d]", tn.Name, info.DataOffsets, off, off+4*uint64(len(tn.Data)))
		}
		for k, v := range tn.Data {
			if got := binary.LittleEndian.Uint32(data[off+4*uint64(k):]); got != math.Float32bits(v) {
				t.Fatalf("%s[%d]: bits %#x, want %#x", tn.Name, k, got, math.Float32bits(v))
			}
		}
		off = info.DataOffsets[1]
	}
	if off != uint64(len(data)) {
		t.Errorf("data section %d bytes, tensors cover %d", len(data), off)
	}
	// Keys in the header appear in layout order after __metadata__.
	last := bytes.Index(hdr, []byte(`"__metadata__"`))
	for _, tn := range ts {
		k := []byte(`"` + tn.Name + `"`) // sample names need no escaping
		i := bytes.Index(hdr, k)
		if i <= last {
			t.Errorf("key %s out of order", k)
		}
		last = i
	}
	if bytes.Contains(hdr, []byte(`\u003c`)) {
		t.Errorf("header escapes HTML characters: %q", hdr)
	}
}

func TestSaveInvalid(t *testing.T) {
	cases := []struct {
		name    string
		tensors []Tensor
		meta    map[string]string
		wantErr string
	}{
		{"duplicate", []Tensor{{Name: "w", Shape: []int{1}, Data: []float32{1}}, {Name: "w", Shape: []int{1}, Data: []float32{2}}}, nil, `"w"`},
		{"empty name", []Tensor{{Name: "", Shape: []int{1}, Data: []float32{1}}}, nil, "empty name"},
		{"reserved", []Tensor{{Name: "__metadata__", Shape: []int{1}, Data: []float32{1}}}, nil, "reserved"},
		{"shape mismatch", []Tensor{{Name: "ok", Shape: []int{1}, Data: []float32{1}}, {Name: "bad", Shape: []int{2, 2}, Data: []float32{1, 2, 3}}}, nil, `"bad"`},
		{"scalar mismatch", []Tensor{{Name: "s", Shape: nil, Data: nil}}, nil, `"s"`},
		{"negative dim", []Tensor{{Name: "neg", Shape: []int{-1, -1}, Data: []float32{1}}}, nil, `"neg"`},
		{"overflow", []Tensor{{Name: "big", Shape: []int{1 << 40, 1 << 40}, Data: nil}}, nil, `"big"`},
		{"bad utf8 name", []Tensor{{Name: "\xff", Shape: []int{1}, Data: []float32{1}}}, nil, "UTF-8"},
		{"bad utf8 meta", nil, map[string]string{"k": "\xfe"}, "UTF-8"},
		{"checksum key", nil, map[string]string{ChecksumKey: "00000000"}, "reserved"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, Name(1))
			if err := Save(p, sample(), map[string]string{"v": "old"}); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(p)
			err := Save(p, c.tensors, c.meta)
			if err == nil {
				t.Fatal("Save succeeded")
			}
			if !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), p) {
				t.Errorf("error %q does not name %s and %s", err, c.wantErr, p)
			}
			after, _ := os.ReadFile(p)
			if !bytes.Equal(before, after) {
				t.Error("previous file changed")
			}
			noTemps(t, dir)
		})
	}
}

func TestSaveReadOnlyFolder(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, Name(1))
	if err := Save(p, sample(), nil); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(p)
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o755)
	if f, err := os.CreateTemp(dir, "probe"); err == nil {
		f.Close()
		os.Remove(f.Name())
		t.Skip("folder still writable after chmod 0555 (running as root?)")
	}
	err := Save(p, []Tensor{{Name: "x", Shape: []int{1}, Data: []float32{1}}}, nil)
	if err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("err = %v", err)
	}
	after, _ := os.ReadFile(p)
	if !bytes.Equal(before, after) {
		t.Error("previous file changed")
	}
	noTemps(t, dir)
}

func TestSaveOverDirectoryFails(t *testing.T) {
	// Rename over a non-empty folder fails even for root: a failure after
	// the data is written must still leave no temp file.
	dir := t.TempDir()
	p := filepath.Join(dir, "sub")
	if err := os.MkdirAll(filepath.Join(p, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Save(p, sample(), nil); err == nil {
		t.Fatal("Save over a non-empty folder succeeded")
	}
	noTemps(t, dir)
	if _, err := os.Stat(filepath.Join(p, "x")); err != nil {
		t.Error("folder at path disturbed")
	}
}

func TestSaveMissingFolder(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nope", "c.safetensors")
	if err := Save(p, sample(), nil); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("err = %v", err)
	}
}

// header builds a file from a raw header string and n data bytes.
func rawFile(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

func TestLoadErrors(t *testing.T) {
	valid := func() []byte {
		p := filepath.Join(t.TempDir(), "v.safetensors")
		if err := Save(p, sample(), map[string]string{"a": "b"}); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		return b
	}()
	d8 := make([]byte, 8)
	cases := []struct {
		name    string
		file    []byte
		wantErr string
	}{
		{"empty file", nil, "too short"},
		{"7 bytes", valid[:7], "too short"},
		{"truncated header", valid[:20], "exceeds"},
		{"truncated data", valid[:len(valid)-1], "run past"},
		{"extra data", append(append([]byte{}, valid...), 0, 0, 0, 0), "cover"},
		{"zero header", make([]byte, 8), "header length is 0"},
		{"huge header length", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '{', '}'}, "exceeds"},
		{"not json", rawFile("{nope    ", nil), "JSON"},
		{"not object", rawFile("[1,2]   ", nil), "start with '{'"},
		{"bad utf8", rawFile("{\"\xff\":1}", nil), "UTF-8"},
		{"trailing", rawFile(`{} {}   `, nil), "trailing"},
		{"unclosed", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}`, d8), "JSON"},
		{"dtype F16", rawFile(`{"a":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}}`, d8), `dtype "F16"`},
		{"dtype missing", rawFile(`{"a":{"shape":[2],"data_offsets":[0,8]}}`, d8), "missing dtype"},
		{"shape missing", rawFile(`{"a":{"dtype":"F32","data_offsets":[0,8]}}`, d8), "missing shape"},
		{"shape negative", rawFile(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, d8), `"a"`},
		{"shape float", rawFile(`{"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}`, d8), `"a"`},
		{"shape vs offsets", rawFile(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, d8), "needs 3 elements"},
		{"shape overflow", rawFile(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, d8), "overflow"},
		{"offsets 3", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}}`, d8), "data_offsets"},
		{"offsets reversed", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}`, d8), "end before"},
		{"offsets out of range", rawFile(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, d8), "run past"},
		{"overlap", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, d8), "overlap"},
		{"gap", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, d8), "gap"},
		{"duplicate key", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, d8), "duplicate"},
		{"unknown field", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}`, d8), `"a"`},
		{"metadata not strings", rawFile(`{"__metadata__":{"a":1}}`, nil), "__metadata__"},
		{"empty name", rawFile(`{"":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, d8), "empty name"},
		{"tensor null", rawFile(`{"a":null}`, nil), "missing dtype"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "bad.safetensors")
			if err := os.WriteFile(p, c.file, 0o644); err != nil {
				t.Fatal(err)
			}
			_, _, err := Load(p)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), c.wantErr) || !errors.Is(err, ErrCorrupt) {
				t.Errorf("error %q should name %s, say %q and wrap ErrCorrupt", err, p, c.wantErr)
			}
		})
	}
	if _, _, err := Load(filepath.Join(t.TempDir(), "missing.safetensors")); err == nil || !errors.Is(err, os.ErrNotExist) || errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "missing.safetensors") {
		t.Errorf("missing file: %v", err)
	}
}

// A file that still parses but whose data changed after Save (one flipped
// bit), or whose recorded checksum changed, is refused as corrupt.
func TestChecksumCatchesDamage(t *testing.T) {
	p := filepath.Join(t.TempDir(), Name(3))
	if err := Save(p, sample(), map[string]string{"step": "3"}); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(good)
	flipData := bytes.Clone(good)
	flipData[8+n+5] ^= 0x10 // a mantissa bit of conv.weight[1]
	i := bytes.Index(good, []byte(`"data_crc32c":"`)) + len(`"data_crc32c":"`)
	badSum := bytes.Clone(good)
	badSum[i] = map[bool]byte{true: '1', false: '0'}[good[i] == '0']
	for name, b := range map[string][]byte{"flipped data bit": flipData, "changed checksum": badSum} {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := Load(p)
		if err == nil || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "CRC-32C") {
			t.Errorf("%s: err = %v, want ErrCorrupt naming %s and the CRC-32C", name, err, p)
		}
	}
}

func TestLoadAcceptsOtherWriters(t *testing.T) {
	// Keys in any order, no padding, JSON whitespace, null metadata,
	// zero-sized tensors sharing an offset: all valid safetensors.
	d := binary.LittleEndian.AppendUint32(nil, math.Float32bits(1.5))
	d = binary.LittleEndian.AppendUint32(d, math.Float32bits(-2))
	hdr := "{ \"b\" : {\"shape\":[1],\"data_offsets\":[4,8],\"dtype\":\"F32\"},\n\"__metadata__\":null,\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}, \"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}\n"
	p := filepath.Join(t.TempDir(), "o.safetensors")
	if err := os.WriteFile(p, rawFile(hdr, d), 0o644); err != nil {
		t.Fatal(err)
	}
	ts, meta, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	equalTensors(t, ts, []Tensor{
		{Name: "a", Shape: []int{}, Data: []float32{1.5}},
		{Name: "z", Shape: []int{0}, Data: []float32{}},
		{Name: "b", Shape: []int{1}, Data: []float32{-2}},
	})
	if len(meta) != 0 {
		t.Errorf("meta %v", meta)
	}
}

func TestNameLatestPrune(t *testing.T) {
	if got := Name(1234); got != "ckpt_00001234.safetensors" {
		t.Fatalf("Name = %q", got)
	}
	dir := t.TempDir()
	if _, _, err := Latest(dir); err == nil || !errors.Is(err, ErrNoCheckpoint) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("empty folder: %v", err)
	}
	missing := filepath.Join(dir, "missing")
	if _, _, err := Latest(missing); !errors.Is(err, ErrNoCheckpoint) || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("missing folder: %v", err)
	}
	// Decoys that must be ignored.
	for _, n := range []string{"ckpt_latest.safetensors", "ckpt_.safetensors", "ckpt_00000099.safetensors.bak", ".ckpt_00000999.safetensors.tmp-123", "notes.txt", "ckpt_-0000001.safetensors"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, Name(5000)), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Latest(dir); !errors.Is(err, ErrNoCheckpoint) {
		t.Fatalf("decoys only: %v", err)
	}
	steps := []int{100, 7, 123456789, 20, 99999999}
	for _, s := range steps {
		if err := Save(filepath.Join(dir, Name(s)), []Tensor{{Name: "s", Shape: []int{1}, Data: []float32{float32(s)}}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	p, step, err := Latest(dir)
	if err != nil || step != 123456789 || p != filepath.Join(dir, "ckpt_123456789.safetensors") {
		t.Fatalf("Latest = %q, %d, %v", p, step, err)
	}
	paths, order, err := Newest(dir)
	if err != nil || !reflect.DeepEqual(order, []int{123456789, 99999999, 100, 20, 7}) || len(paths) != 5 || paths[3] != filepath.Join(dir, Name(20)) {
		t.Fatalf("Newest = %v, %v, %v", paths, order, err)
	}
	if err := Prune(dir, -1); err == nil {
		t.Error("Prune(-1) succeeded")
	}
	if err := Prune(dir, 10); err != nil {
		t.Fatal(err)
	}
	if err := Prune(dir, 2); err != nil {
		t.Fatal(err)
	}
	des, _ := os.ReadDir(dir)
	var left []string
	for _, de := range des {
		left = append(left, de.Name())
	}
	want := []string{".ckpt_00000999.safetensors.tmp-123", "ckpt_-0000001.safetensors", "ckpt_.safetensors", "ckpt_00000099.safetensors.bak", Name(5000), "ckpt_123456789.safetensors", Name(99999999), "ckpt_latest.safetensors", "notes.txt"}
	if !reflect.DeepEqual(left, want) {
		t.Errorf("after Prune(2): %v, want %v", left, want)
	}
	if err := Prune(dir, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Latest(dir); !errors.Is(err, ErrNoCheckpoint) {
		t.Errorf("after Prune(0): %v", err)
	}
	if err := Prune(missing, 1); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("Prune(missing) = %v", err)
	}
}

// pythonWith returns a python interpreter that can import all of mods, or "".
func pythonWith(mods string) string {
	for _, py := range []string{"python3", "/usr/bin/python3", "python"} {
		if exec.Command(py, "-c", "import "+mods).Run() == nil {
			return py
		}
	}
	return ""
}

// TestPythonSafetensors reads a Save'd file with the reference safetensors
// package and has it write one for Load, when that package is installed.
func TestPythonSafetensors(t *testing.T) {
	py := pythonWith("safetensors, safetensors.numpy, numpy")
	if py == "" {
		t.Skip("python3 with safetensors and numpy not available")
	}
	dir := t.TempDir()
	ours := filepath.Join(dir, "ours.safetensors")
	theirs := filepath.Join(dir, "theirs.safetensors")
	if err := Save(ours, sample(), map[string]string{"step": "7", "config": `{"a":1}`}); err != nil {
		t.Fatal(err)
	}
	script := `
import sys, json, numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file
ours, theirs = sys.argv[1], sys.argv[2]
d = load_file(ours)
with safe_open(ours, framework="numpy") as f:
    meta = f.metadata()
    keys = list(f.keys())
out = {k: {"shape": list(v.shape), "dtype": str(v.dtype), "bits": [int(x) for x in v.reshape(-1).view(np.uint32)]} for k, v in d.items()}
print(json.dumps({"tensors": out, "meta": meta, "keys": keys}))
save_file({"w": np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5, "s": np.array(3.25, dtype=np.float32)}, theirs, metadata={"framework": "np"})
`
	out, err := exec.Command(py, "-c", script, ours, theirs).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	var res struct {
		Tensors map[string]struct {
			Shape []int
			Dtype string
			Bits  []uint32
		}
		Meta map[string]string
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if res.Meta["step"] != "7" || res.Meta["config"] != `{"a":1}` {
		t.Errorf("python metadata %v", res.Meta)
	}
	for _, tn := range sample() {
		got, ok := res.Tensors[tn.Name]
		if !ok || got.Dtype != "float32" || !reflect.DeepEqual(append([]int{}, got.Shape...), append([]int{}, tn.Shape...)) || len(got.Bits) != len(tn.Data) {
			t.Errorf("python read %q as %+v", tn.Name, got)
			continue
		}
		for k, v := range tn.Data {
			if got.Bits[k] != math.Float32bits(v) {
				t.Errorf("python %q[%d] = %#x, want %#x", tn.Name, k, got.Bits[k], math.Float32bits(v))
			}
		}
	}
	ts, meta, err := Load(theirs)
	if err != nil {
		t.Fatal(err)
	}
	if meta["framework"] != "np" {
		t.Errorf("meta %v", meta)
	}
	byName := map[string]Tensor{}
	for _, tn := range ts {
		byName[tn.Name] = tn
	}
	equalTensors(t, []Tensor{byName["w"], byName["s"]}, []Tensor{
		{Name: "w", Shape: []int{2, 3}, Data: []float32{-2.5, -1.5, -0.5, 0.5, 1.5, 2.5}},
		{Name: "s", Shape: []int{}, Data: []float32{3.25}},
	})
}
