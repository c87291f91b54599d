package atomicfile

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func noTemps(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func writeString(s string) func(io.Writer) error {
	return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
}

func TestWriteReplacesTheFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	for _, s := range []string{"old", "new contents"} {
		if err := Write(p, writeString(s)); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(p)
		if string(got) != s {
			t.Fatalf("file holds %q, want %q", got, s)
		}
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v, want 0644", fi.Mode().Perm())
	}
	noTemps(t, dir)
}

// Whatever fails (the writer midway, or anything after it before the
// rename), the old file is untouched, no temporary file stays, and the
// error names the file.
func TestFailureLeavesTheOldFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := Write(p, writeString("old")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk on fire")
	failMidway := func(w io.Writer) error {
		io.WriteString(w, strings.Repeat("x", 3<<20)) // past the buffer: bytes reach the temp file
		return boom
	}
	err := Write(p, failMidway)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), p) {
		t.Fatalf("err = %v", err)
	}
	var sawTemp string
	testHookBeforeRename = func(tmp string) error {
		sawTemp = tmp
		if filepath.Dir(tmp) != filepath.Clean(dir) {
			t.Errorf("temp file %s not in %s", tmp, dir)
		}
		return boom
	}
	defer func() { testHookBeforeRename = nil }()
	if err := Write(p, writeString("new")); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if sawTemp == "" {
		t.Fatal("hook not called")
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, []byte("old")) {
		t.Fatalf("file holds %q after failed writes, want %q", got, "old")
	}
	noTemps(t, dir)
}

func TestRenameOverAFolderFails(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub")
	if err := os.MkdirAll(filepath.Join(p, "child"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Write(p, writeString("x")); err == nil {
		t.Fatal("writing over a non-empty folder succeeded")
	}
	noTemps(t, dir)
}

// RemoveTemps removes what a write killed before its rename leaves (a file
// named as Write names its temporary files) and nothing else.
func TestRemoveTemps(t *testing.T) {
	dir := t.TempDir()
	var tmpName string
	testHookBeforeRename = func(tmp string) error { tmpName = filepath.Base(tmp); return errors.New("stop") }
	defer func() { testHookBeforeRename = nil }()
	if err := Write(filepath.Join(dir, "ckpt_00000010.safetensors"), writeString("x")); err == nil {
		t.Fatal("Write with a failing hook succeeded")
	}
	// The kill: the temporary file stays where Write had it.
	temps := []string{tmpName, ".samples_00000002.png.tmp-42"}
	keep := []string{"ckpt_00000005.safetensors", "metrics.jsonl", ".hidden", "notes.tmp-1"}
	for _, n := range append(append([]string{}, temps...), keep...) {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, ".dir.tmp-7"), 0o755); err != nil {
		t.Fatal(err)
	}
	keep = append(keep, ".dir.tmp-7")
	removed, err := RemoveTemps(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != len(temps) {
		t.Errorf("removed %v, want the %d temporary files %v", removed, len(temps), temps)
	}
	for _, n := range temps {
		if _, err := os.Stat(filepath.Join(dir, n)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there (%v)", n, err)
		}
	}
	for _, n := range keep {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s was removed: %v", n, err)
		}
	}
	if _, err := RemoveTemps(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing folder: %v", err)
	}
}
