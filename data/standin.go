package data

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
)

// WriteStandIn writes ds as the training split of the idx data set name
// ("mnist" or "fashion") into dir, and records its files as verified, so
// that Load(name, dir, true) reads them although they are not the
// published files. It is for tests of programs that load a data set by
// name, on small data made for the test. ds must have one channel.
func WriteStandIn(dir, name string, ds *Dataset) error {
	set, ok := idxSets[name]
	if !ok {
		return fmt.Errorf("data: stand-in for %q: expected mnist or fashion", name)
	}
	if ds.C != 1 || len(ds.Pixels) != ds.N*ds.H*ds.W || len(ds.Labels) != ds.N {
		return fmt.Errorf("data: stand-in for %s: want %d 1-channel %dx%d images and as many labels, got C=%d, %d pixels, %d labels",
			name, ds.N, ds.H, ds.W, ds.C, len(ds.Pixels), len(ds.Labels))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	recs := readRecords(dir)
	for i, f := range []struct {
		magic uint32
		dims  []int
		body  []byte
	}{{idxImagesMagic, []int{ds.N, ds.H, ds.W}, ds.Pixels}, {idxLabelsMagic, []int{ds.N}, ds.Labels}} {
		b := binary.BigEndian.AppendUint32(nil, f.magic)
		for _, d := range f.dims {
			b = binary.BigEndian.AppendUint32(b, uint32(d))
		}
		c := set.files[trainFiles[i]]
		path := filepath.Join(dir, c.file)
		if err := os.WriteFile(path, append(b, f.body...), 0o644); err != nil {
			return fmt.Errorf("data: %w", err)
		}
		st, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("data: %w", err)
		}
		recs[c.file] = record{size: st.Size(), mtime: st.ModTime().UnixNano(), md5: c.md5}
	}
	if err := writeRecords(dir, recs); err != nil {
		return fmt.Errorf("data: stand-in for %s in %s: %w", name, dir, err)
	}
	return nil
}
