//go:build gpu

package gpu

import (
	"embed"
	"fmt"
	"path"
	"strings"
	"unsafe"

	"gorgonia.org/cu"
)

// ptx holds kernels/*.cu compiled by `make kernels`.
//
//go:embed ptx/*.ptx
var ptx embed.FS

// Threads is the block size of the kernels (THREADS in kernels/common.cuh).
const Threads = 256

// loadKernels loads every embedded PTX module and indexes its kernels by
// name; the names are unique across files.
func loadKernels() (map[string]cu.Function, error) {
	files, err := ptx.ReadDir("ptx")
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("gpu: no embedded kernels (run make kernels before building with -tags gpu)")
	}
	fns := map[string]cu.Function{}
	for _, f := range files {
		src, err := ptx.ReadFile(path.Join("ptx", f.Name()))
		if err != nil {
			return nil, err
		}
		mod, err := cu.LoadData(string(src))
		if err != nil {
			return nil, fmt.Errorf("gpu: loading kernels %s: %w", f.Name(), err)
		}
		for _, name := range entryNames(string(src)) {
			if fns[name], err = mod.Function(name); err != nil {
				return nil, fmt.Errorf("gpu: kernel %s in %s: %w", name, f.Name(), err)
			}
		}
	}
	return fns, nil
}

// entryNames lists the kernels (".entry name(") that a PTX module defines.
func entryNames(src string) []string {
	var names []string
	for _, part := range strings.Split(src, ".entry ")[1:] {
		if end := strings.IndexAny(part, "( \n"); end > 0 {
			names = append(names, part[:end])
		}
	}
	return names
}

// Grid is the number of blocks for n elements of a grid-stride kernel:
// enough to fill the device, never more than the elements need.
func (d *Device) Grid(n int) int {
	return max(1, min((n+Threads-1)/Threads, 32*d.SMs))
}

// Launch runs kernel name with grid blocks of block threads on the device's
// stream, with args as packArgs takes them. It runs inside Do.
func (d *Device) Launch(name string, grid, block int, args ...any) error {
	fn, ok := d.kernels[name]
	if !ok {
		return fmt.Errorf("gpu: no kernel %q", name)
	}
	var holders [maxArgs]uint64
	if err := packArgs(name, args, &holders); err != nil {
		return err
	}
	params := make([]unsafe.Pointer, len(args))
	for i := range args {
		params[i] = unsafe.Pointer(&holders[i])
	}
	if err := fn.Launch(grid, 1, 1, block, 1, 1, 0, d.stream, params); err != nil {
		return fmt.Errorf("gpu: launching %s (grid %d, block %d): %w", name, grid, block, err)
	}
	return nil
}
