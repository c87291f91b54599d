// Package atomicfile writes files so that a reader, or a crash, sees the
// old file or the new one, never a part: checkpoints, grids and sample
// files are written this way, so that nothing already written is lost.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// tmpInfix follows the target's name, after a leading dot, in the name of
// its temporary file: ".ckpt_00000010.safetensors.tmp-123456".
const tmpInfix = ".tmp-"

// testHookBeforeRename, when set by tests, runs after the temporary file is
// written and synced and before it is renamed; an error aborts the Save.
var testHookBeforeRename func(tmp string) error

// Write writes a file through write into a temporary file next to path,
// fsyncs it, renames it over path and fsyncs the folder. On any failure
// before the rename the temporary file is removed and path is untouched.
func Write(path string, write func(w io.Writer) error) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("write %s: %w", path, err)
		}
	}()
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+tmpInfix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	renamed := false
	defer func() {
		if err != nil && !renamed {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err = write(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if testHookBeforeRename != nil {
		if err = testHookBeforeRename(tmp); err != nil {
			return err
		}
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	renamed = true
	// The file is in place; a failed folder sync is still reported, since
	// the rename might not survive a crash.
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync folder: %w", err)
	}
	defer d.Close()
	if err = d.Sync(); err != nil {
		return fmt.Errorf("sync folder: %w", err)
	}
	return nil
}

// RemoveTemps removes the temporary files that Write leaves in dir when
// the process is killed before its rename, and returns their paths. Call it
// only where no other process is writing into dir at the same time: its
// temporary files look the same.
func RemoveTemps(dir string) ([]string, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("remove temporary files: %w", err)
	}
	var removed []string
	var errs []error
	for _, de := range des {
		name := de.Name()
		if !de.Type().IsRegular() || !strings.HasPrefix(name, ".") || !strings.Contains(name, tmpInfix) {
			continue
		}
		path := filepath.Join(dir, name)
		if err := os.Remove(path); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, path)
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("remove temporary files in %s: %w", dir, err)
	}
	return removed, nil
}
