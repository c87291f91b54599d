// Package ckpt reads and writes training checkpoints as safetensors files
// (float32 tensors plus a string-to-string __metadata__ map), atomically,
// and finds and prunes the ckpt_NNNNNNNN.safetensors files of a run folder.
//
// The files follow the safetensors format, so PyTorch's safetensors package
// can read them: an 8-byte little-endian header length N, N bytes of JSON
// header (padded with spaces to a multiple of 8), then the raw little-endian
// tensor data, laid out in the order the tensors were given to Save.
//
// The format has no checksum, so Save adds one to the metadata (ChecksumKey:
// the CRC-32C of the data section) and Load checks it when it is there: a
// file damaged after it was written is refused even where it still parses.
package ckpt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/scoregen/scoregen/internal/atomicfile"
)

// Tensor is one named float32 tensor in row-major (C) order.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// maxHeader is the largest JSON header Load accepts; it is the limit the
// reference safetensors implementation uses (100 MB).
const maxHeader = 100_000_000

// metadataKey is the reserved header key that holds the metadata map.
const metadataKey = "__metadata__"

// ChecksumKey is the metadata key under which Save records the CRC-32C
// (Castagnoli) of the data section, as 8 lowercase hex digits. Load checks
// and removes it; callers may not set it.
const ChecksumKey = "data_crc32c"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt is wrapped by Load's error when the file's content is not a
// valid safetensors file, or its data does not match its checksum: it was
// truncated or damaged, or was never a checkpoint. Errors reading the file
// at all (a missing file, no permission) do not wrap it.
var ErrCorrupt = errors.New("corrupt or truncated")

// Save writes tensors and meta to path as one safetensors file. The file is
// written to a temporary file in the same folder, fsynced, renamed over path,
// and then the folder is fsynced, so a crash or an error never leaves a
// partial file at path; on failure the temporary file is removed and any
// existing file at path is untouched. Tensor names must be non-empty,
// unique, valid UTF-8 and not "__metadata__", and each Shape's product must
// equal len(Data). meta may not hold ChecksumKey: Save adds it.
func Save(path string, tensors []Tensor, meta map[string]string) error {
	if _, ok := meta[ChecksumKey]; ok {
		return fmt.Errorf("ckpt: save %s: metadata key %q is reserved for the checksum Save writes", path, ChecksumKey)
	}
	var sum uint32
	_ = encodeData(tensors, func(b []byte) error { // the callback never fails
		sum = crc32.Update(sum, castagnoli, b)
		return nil
	})
	withSum := make(map[string]string, len(meta)+1)
	for k, v := range meta {
		withSum[k] = v
	}
	withSum[ChecksumKey] = fmt.Sprintf("%08x", sum)
	header, dataLen, err := buildHeader(tensors, withSum)
	if err != nil {
		return fmt.Errorf("ckpt: save %s: %w", path, err)
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		var lenBuf [8]byte
		binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(header)))
		if _, err := w.Write(lenBuf[:]); err != nil {
			return err
		}
		if _, err := w.Write(header); err != nil {
			return err
		}
		var written int64
		err := encodeData(tensors, func(b []byte) error {
			written += int64(len(b))
			_, err := w.Write(b)
			return err
		})
		if err != nil {
			return err
		}
		if written != dataLen {
			return fmt.Errorf("wrote %d data bytes, expected %d (tensor data changed during Save?)", written, dataLen)
		}
		return nil
	})
}

// encodeData passes the data section of tensors (little-endian float32s in
// tensor order) to emit in chunks of at most 64 KiB.
func encodeData(tensors []Tensor, emit func([]byte) error) error {
	buf := make([]byte, 0, 1<<16)
	for _, t := range tensors {
		for _, v := range t.Data {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			if len(buf) == cap(buf) {
				if err := emit(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
	}
	return emit(buf)
}

// buildHeader validates the tensors and returns the padded JSON header and
// the total data length in bytes.
func buildHeader(tensors []Tensor, meta map[string]string) ([]byte, int64, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	if len(meta) > 0 {
		keys := make([]string, 0, len(meta))
		for k, v := range meta {
			if !utf8.ValidString(k) {
				return nil, 0, fmt.Errorf("metadata key %q is not valid UTF-8", k)
			}
			if !utf8.ValidString(v) {
				return nil, 0, fmt.Errorf("metadata value for key %q is not valid UTF-8", k)
			}
			keys = append(keys, k)
		}
		sort.Strings(keys)
		writeJSONString(&b, metadataKey)
		b.WriteString(":{")
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(&b, k)
			b.WriteByte(':')
			writeJSONString(&b, meta[k])
		}
		b.WriteByte('}')
		first = false
	}
	seen := make(map[string]bool, len(tensors))
	var offset int64
	for i, t := range tensors {
		switch {
		case t.Name == "":
			return nil, 0, fmt.Errorf("tensor %d has an empty name", i)
		case t.Name == metadataKey:
			return nil, 0, fmt.Errorf("tensor %d: name %q is reserved", i, t.Name)
		case !utf8.ValidString(t.Name):
			return nil, 0, fmt.Errorf("tensor %d: name %q is not valid UTF-8", i, t.Name)
		case seen[t.Name]:
			return nil, 0, fmt.Errorf("tensor %q: duplicate name", t.Name)
		}
		seen[t.Name] = true
		n := 1
		for _, d := range t.Shape {
			if d < 0 {
				return nil, 0, fmt.Errorf("tensor %q: negative dimension in shape %v", t.Name, t.Shape)
			}
			hi, lo := bits.Mul64(uint64(n), uint64(d))
			if hi != 0 || lo > math.MaxInt {
				return nil, 0, fmt.Errorf("tensor %q: shape %v overflows", t.Name, t.Shape)
			}
			n = int(lo)
		}
		if n != len(t.Data) {
			return nil, 0, fmt.Errorf("tensor %q: shape %v has %d elements but data has %d", t.Name, t.Shape, n, len(t.Data))
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		writeJSONString(&b, t.Name)
		b.WriteString(`:{"dtype":"F32","shape":[`)
		for j, d := range t.Shape {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(d))
		}
		end := offset + 4*int64(len(t.Data))
		fmt.Fprintf(&b, `],"data_offsets":[%d,%d]}`, offset, end)
		offset = end
	}
	b.WriteByte('}')
	for b.Len()%8 != 0 {
		b.WriteByte(' ')
	}
	return b.Bytes(), offset, nil
}

// writeJSONString writes s as a JSON string without HTML escaping, the way
// the reference implementation (serde_json) does.
func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)       // a string always encodes
	b.Truncate(b.Len() - 1) // Encode appends a newline
}

// Load reads a safetensors file written by Save (or by any safetensors
// writer, as long as every tensor is F32) and returns its tensors in data
// order and its metadata without ChecksumKey (an empty, non-nil map when
// the file has none). Every part of the file is validated, and the data
// against its checksum when the file has one; errors name the file and the
// problem, and wrap ErrCorrupt when the content is at fault.
func Load(path string) ([]Tensor, map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("ckpt: load: %w", err)
	}
	ts, meta, err := decode(b)
	if err == nil {
		err = checkSum(b, meta)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("ckpt: load %s: %w: %w", path, ErrCorrupt, err)
	}
	delete(meta, ChecksumKey)
	return ts, meta, nil
}

// checkSum compares the CRC-32C of the data section of the decoded file b
// with the one its metadata records, if any.
func checkSum(b []byte, meta map[string]string) error {
	want, ok := meta[ChecksumKey]
	if !ok {
		return nil // written by another safetensors writer, or before checksums
	}
	data := b[8+binary.LittleEndian.Uint64(b[:8]):]
	if got := fmt.Sprintf("%08x", crc32.Checksum(data, castagnoli)); got != want {
		return fmt.Errorf("the %d data bytes have CRC-32C %s, the header records %q (%s)", len(data), got, want, ChecksumKey)
	}
	return nil
}

// tensorInfo is one tensor entry of the JSON header.
type tensorInfo struct {
	Dtype       *string  `json:"dtype"`
	Shape       []uint64 `json:"shape"`
	DataOffsets []uint64 `json:"data_offsets"`
}

type entry struct {
	name       string
	shape      []int
	begin, end uint64
}

// decode parses a whole safetensors file held in b.
func decode(b []byte) ([]Tensor, map[string]string, error) {
	if len(b) < 8 {
		return nil, nil, fmt.Errorf("file is %d bytes, too short for the 8-byte header length (truncated?)", len(b))
	}
	n := binary.LittleEndian.Uint64(b[:8])
	rest := uint64(len(b) - 8)
	switch {
	case n == 0:
		return nil, nil, errors.New("header length is 0")
	case n > rest:
		return nil, nil, fmt.Errorf("header length %d exceeds the %d bytes after it (truncated or not a safetensors file)", n, rest)
	case n > maxHeader:
		return nil, nil, fmt.Errorf("header length %d exceeds the %d-byte limit", n, maxHeader)
	}
	header := b[8 : 8+n]
	data := b[8+n:]
	if !utf8.Valid(header) {
		return nil, nil, errors.New("header is not valid UTF-8")
	}
	if header[0] != '{' {
		return nil, nil, errors.New("header does not start with '{'")
	}
	entries, meta, err := parseHeader(header)
	if err != nil {
		return nil, nil, err
	}
	// Tensors must tile the data section exactly, in offset order. The sort
	// is stable so zero-sized tensors keep their header order.
	sort.SliceStable(entries, func(i, j int) bool {
		if entries[i].begin != entries[j].begin {
			return entries[i].begin < entries[j].begin
		}
		return entries[i].end < entries[j].end
	})
	var pos uint64
	for _, e := range entries {
		switch {
		case e.begin < pos:
			return nil, nil, fmt.Errorf("tensor %q: data_offsets [%d,%d] overlap the previous tensor (ends at %d)", e.name, e.begin, e.end, pos)
		case e.begin > pos:
			return nil, nil, fmt.Errorf("tensor %q: data_offsets [%d,%d] leave a gap after offset %d (not contiguous)", e.name, e.begin, e.end, pos)
		case e.end > uint64(len(data)):
			return nil, nil, fmt.Errorf("tensor %q: data_offsets [%d,%d] run past the %d data bytes (truncated?)", e.name, e.begin, e.end, len(data))
		}
		pos = e.end
	}
	if pos != uint64(len(data)) {
		return nil, nil, fmt.Errorf("tensors cover %d data bytes but the file has %d", pos, len(data))
	}
	tensors := make([]Tensor, len(entries))
	for i, e := range entries {
		raw := data[e.begin:e.end]
		vals := make([]float32, len(raw)/4)
		for k := range vals {
			vals[k] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*k:]))
		}
		tensors[i] = Tensor{Name: e.name, Shape: e.shape, Data: vals}
	}
	return tensors, meta, nil
}

// parseHeader parses the JSON header object, checking each tensor entry on
// its own (dtype, shape against offsets); the layout is checked by decode.
func parseHeader(header []byte) ([]entry, map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(header))
	dec.DisallowUnknownFields()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, fmt.Errorf("header is not a JSON object: %v", jsonErr(err, tok))
	}
	var entries []entry
	meta := map[string]string{}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("header JSON: %v", err)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, nil, fmt.Errorf("header JSON: unexpected %v", tok)
		}
		if seen[name] {
			return nil, nil, fmt.Errorf("header has duplicate key %q", name)
		}
		seen[name] = true
		if name == metadataKey {
			var m map[string]string
			if err := dec.Decode(&m); err != nil {
				return nil, nil, fmt.Errorf("header %s is not a string-to-string object: %v", metadataKey, err)
			}
			for k, v := range m {
				meta[k] = v
			}
			continue
		}
		if name == "" {
			return nil, nil, errors.New("header has a tensor with an empty name")
		}
		var info tensorInfo
		if err := dec.Decode(&info); err != nil {
			return nil, nil, fmt.Errorf("tensor %q: bad header entry: %v", name, err)
		}
		e, err := checkInfo(name, &info)
		if err != nil {
			return nil, nil, err
		}
		entries = append(entries, e)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, nil, fmt.Errorf("header JSON object is not closed: %v", jsonErr(err, tok))
	}
	// Only padding (JSON whitespace) may follow the object.
	off := dec.InputOffset()
	if off < 0 || off > int64(len(header)) || len(bytes.Trim(header[off:], " \t\r\n")) != 0 {
		return nil, nil, fmt.Errorf("header has trailing data after the JSON object (at byte %d)", off)
	}
	return entries, meta, nil
}

func jsonErr(err error, tok json.Token) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("unexpected %v", tok)
}

// checkInfo validates one tensor entry: dtype F32, a shape whose byte size
// matches its data_offsets.
func checkInfo(name string, info *tensorInfo) (entry, error) {
	switch {
	case info.Dtype == nil:
		return entry{}, fmt.Errorf("tensor %q: missing dtype", name)
	case *info.Dtype != "F32":
		return entry{}, fmt.Errorf("tensor %q: dtype %q is not supported (only F32)", name, *info.Dtype)
	case info.Shape == nil:
		return entry{}, fmt.Errorf("tensor %q: missing shape", name)
	case len(info.DataOffsets) != 2:
		return entry{}, fmt.Errorf("tensor %q: data_offsets must be [begin,end], got %d numbers", name, len(info.DataOffsets))
	}
	begin, end := info.DataOffsets[0], info.DataOffsets[1]
	if end < begin {
		return entry{}, fmt.Errorf("tensor %q: data_offsets [%d,%d] end before they begin", name, begin, end)
	}
	// Like Save (and the reference implementation), the running product
	// must not overflow, even when a later dimension is 0.
	shape := make([]int, len(info.Shape))
	elems := uint64(1)
	for i, d := range info.Shape {
		hi, lo := bits.Mul64(elems, d)
		if d > math.MaxInt || hi != 0 || lo > math.MaxInt {
			return entry{}, fmt.Errorf("tensor %q: shape %v overflows", name, info.Shape)
		}
		shape[i] = int(d)
		elems = lo
	}
	hi, nbytes := bits.Mul64(elems, 4)
	if hi != 0 || nbytes != end-begin {
		return entry{}, fmt.Errorf("tensor %q: shape %v (F32) needs %d elements but data_offsets [%d,%d] hold %d bytes", name, info.Shape, elems, begin, end, end-begin)
	}
	return entry{name: name, shape: shape, begin: begin, end: end}, nil
}

// Name returns the file name of the checkpoint taken at step:
// ckpt_%08d.safetensors.
func Name(step int) string {
	return fmt.Sprintf("ckpt_%08d.safetensors", step)
}

// ErrNoCheckpoint is wrapped by Latest's error when the folder holds no
// checkpoint (or does not exist).
var ErrNoCheckpoint = errors.New("no checkpoint")

type found struct {
	name string
	step int
}

// list returns the checkpoint files of dir sorted by step, oldest first.
func list(dir string) ([]found, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []found
	for _, de := range des {
		if de.IsDir() {
			continue
		}
		step, ok := parseName(de.Name())
		if ok {
			out = append(out, found{de.Name(), step})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].step != out[j].step {
			return out[i].step < out[j].step
		}
		return out[i].name < out[j].name
	})
	return out, nil
}

// parseName reports the step of a file named like Name(step).
func parseName(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, "ckpt_")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, ".safetensors")
	if !ok || s == "" {
		return 0, false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	step, err := strconv.Atoi(s)
	if err != nil {
		return 0, false
	}
	return step, true
}

// Latest returns the path and step of the newest checkpoint (highest step)
// in dir. When dir has none, or does not exist, the error names the folder
// and wraps ErrNoCheckpoint.
func Latest(dir string) (path string, step int, err error) {
	paths, steps, err := Newest(dir)
	if err != nil {
		return "", 0, err
	}
	return paths[0], steps[0], nil
}

// Newest returns the paths and steps of the checkpoints in dir, newest
// (highest step) first, for a caller that falls back to an older one when
// a newer one does not load. When dir has none, or does not exist, the
// error names the folder and wraps ErrNoCheckpoint.
func Newest(dir string) (paths []string, steps []int, err error) {
	fs, err := list(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("ckpt: %w in %s: %w", ErrNoCheckpoint, dir, err)
		}
		return nil, nil, fmt.Errorf("ckpt: list checkpoints: %w", err)
	}
	if len(fs) == 0 {
		return nil, nil, fmt.Errorf("ckpt: %w in %s (no ckpt_*.safetensors files)", ErrNoCheckpoint, dir)
	}
	for i := len(fs) - 1; i >= 0; i-- {
		paths = append(paths, filepath.Join(dir, fs[i].name))
		steps = append(steps, fs[i].step)
	}
	return paths, steps, nil
}

// Prune removes all checkpoints in dir but the newest keep (by step). Other
// files are left alone.
func Prune(dir string, keep int) error {
	if keep < 0 {
		return fmt.Errorf("ckpt: prune %s: keep is %d, must be >= 0", dir, keep)
	}
	fs, err := list(dir)
	if err != nil {
		return fmt.Errorf("ckpt: prune: %w", err)
	}
	var errs []error
	for i := 0; i < len(fs)-keep; i++ {
		if err := os.Remove(filepath.Join(dir, fs[i].name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("ckpt: prune %s: %w", dir, err)
	}
	return nil
}
