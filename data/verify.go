package data

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// verifiedFile is the record, kept in each data folder, of the files whose
// md5 has been checked: one line per file with its name, size, modification
// time and the md5 of its uncompressed content. A file whose size and
// modification time still match its line is not hashed again.
const verifiedFile = ".verified"

// check is one file to verify: its name in the folder and the published md5
// of its uncompressed content.
type check struct {
	file string
	md5  string
}

// record is one line of the .verified file.
type record struct {
	size  int64
	mtime int64 // UnixNano
	md5   string
}

// verify checks the md5 of the uncompressed content of each file in dir
// against its expected value, hashing only the files the .verified record
// does not already vouch for, and adds those it hashed to the record. A
// record that cannot be written (a read-only folder) only costs hashing
// again next time.
func verify(dir string, checks []check) error {
	recs := readRecords(dir)
	changed := false
	for _, c := range checks {
		path := filepath.Join(dir, c.file)
		st, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("data: %w", err)
		}
		r, ok := recs[c.file]
		if ok && r.size == st.Size() && r.mtime == st.ModTime().UnixNano() && r.md5 == c.md5 {
			continue
		}
		sum, err := md5Uncompressed(path)
		if err != nil {
			return err
		}
		if sum != c.md5 {
			return fmt.Errorf("data: %s: md5 mismatch: expected %s, got %s (md5 of the uncompressed content)",
				path, c.md5, sum)
		}
		recs[c.file] = record{size: st.Size(), mtime: st.ModTime().UnixNano(), md5: sum}
		changed = true
	}
	if changed {
		_ = writeRecords(dir, recs)
	}
	return nil
}

// recorded reports whether every file in checks is in dir and vouched for by
// the .verified record, without hashing anything.
func recorded(dir string, checks []check) bool {
	recs := readRecords(dir)
	for _, c := range checks {
		st, err := os.Stat(filepath.Join(dir, c.file))
		if err != nil {
			return false
		}
		r, ok := recs[c.file]
		if !ok || r.size != st.Size() || r.mtime != st.ModTime().UnixNano() || r.md5 != c.md5 {
			return false
		}
	}
	return true
}

// md5Uncompressed returns the hex md5 of the file's content, after gunzip
// when it is gzip (see uncompressed).
func md5Uncompressed(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	in, _, err := uncompressed(path, f)
	if err != nil {
		return "", err
	}
	h := md5.New()
	if _, err := io.Copy(h, in); err != nil {
		return "", fmt.Errorf("data: %s: %v (while computing its md5)", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// readRecords parses dir's .verified file; a missing or damaged file gives
// an empty or partial record, which only means hashing again.
func readRecords(dir string) map[string]record {
	recs := map[string]record{}
	b, err := os.ReadFile(filepath.Join(dir, verifiedFile))
	if err != nil {
		return recs
	}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) != 4 || strings.HasPrefix(f[0], "#") {
			continue
		}
		size, err1 := strconv.ParseInt(f[1], 10, 64)
		mtime, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		recs[f[0]] = record{size: size, mtime: mtime, md5: f[3]}
	}
	return recs
}

// writeRecords replaces dir's .verified file atomically (temporary file,
// then rename), so a concurrent reader sees the old or the new record.
func writeRecords(dir string, recs map[string]record) error {
	var b strings.Builder
	b.WriteString("# scoregen: files whose md5 (of the uncompressed content) was verified.\n")
	b.WriteString("# name size mtime-unix-nanoseconds md5; delete this file to verify again.\n")
	for _, name := range slices.Sorted(maps.Keys(recs)) {
		r := recs[name]
		fmt.Fprintf(&b, "%s %d %d %s\n", name, r.size, r.mtime, r.md5)
	}
	tmp, err := os.CreateTemp(dir, verifiedFile+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(b.String()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, verifiedFile))
}
