package gpu

// Finding and opening cuBLAS needs no GPU, so this file builds without the
// tag gpu, and its tests run on any machine.

// #cgo LDFLAGS: -ldl
// #include <dlfcn.h>
// #include <stdlib.h>
import "C"

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"unsafe"
)

// blasVersions are the cuBLAS major versions tried, newest first.
var blasVersions = []string{"13", "12", "11"}

// blasCandidates lists where cuBLAS is looked for, newest version first:
// the loader's own search path (a bare name), the CUDA toolkit's folders,
// then the folders where NVIDIA's pip wheels put it, which are not on the
// loader's path (PyTorch's CUDA 13 wheels: nvidia/cu13/lib; older ones:
// nvidia/cublas/lib).
func blasCandidates() []string {
	var dirs []string
	for _, env := range []string{"CUDA_HOME", "CUDA_PATH"} {
		if d := os.Getenv(env); d != "" {
			dirs = append(dirs, filepath.Join(d, "lib64"))
		}
	}
	dirs = append(dirs, "/usr/local/cuda/lib64", "/usr/lib/x86_64-linux-gnu")
	dirs = append(dirs, wheelDirs()...)
	var names []string
	for _, v := range blasVersions {
		lib := "libcublas.so." + v
		names = append(names, lib)
		for _, d := range dirs {
			names = append(names, filepath.Join(d, lib))
		}
	}
	return names
}

// wheelDirs are the library folders of NVIDIA's pip wheels under every
// Python environment this process can see: the active virtualenv or conda
// environment, the one whose python3 is first on PATH, and the system's.
func wheelDirs() []string {
	var prefixes []string
	for _, env := range []string{"VIRTUAL_ENV", "CONDA_PREFIX"} {
		if p := os.Getenv(env); p != "" {
			prefixes = append(prefixes, p)
		}
	}
	// A venv's bin/python3 is a link to the system's; its prefix is the
	// folder above bin/, not the link's target.
	if py, err := exec.LookPath("python3"); err == nil {
		prefixes = append(prefixes, filepath.Dir(filepath.Dir(py)))
	}
	prefixes = append(prefixes, "/usr/local", "/usr", "/opt/conda")
	if home, err := os.UserHomeDir(); err == nil {
		prefixes = append(prefixes, filepath.Join(home, ".local"))
	}
	if venvs, err := filepath.Glob("/opt/*/.venv"); err == nil {
		prefixes = append(prefixes, venvs...)
	}
	var dirs []string
	seen := map[string]bool{}
	for _, p := range prefixes {
		for _, sub := range []string{"nvidia/cu13/lib", "nvidia/cublas/lib"} {
			for _, pkgs := range []string{"site-packages", "dist-packages"} {
				found, _ := filepath.Glob(filepath.Join(p, "lib", "python3*", pkgs, sub))
				for _, d := range found {
					if !seen[d] {
						seen[d] = true
						dirs = append(dirs, d)
					}
				}
			}
		}
	}
	return dirs
}

// errNotFound is openLibrary's error when there is no library by that name.
var errNotFound = errors.New("not found")

// openLibrary opens the cuBLAS at name (a bare name for the loader's search
// path, or a path). A library that is there but will not load (say, its
// libcublasLt is missing) is an error carrying the loader's own message;
// only a library that is not there at all is errNotFound.
func openLibrary(name string) (lib, lt unsafe.Pointer, err error) {
	if filepath.IsAbs(name) {
		if _, err := os.Stat(name); err != nil {
			return nil, nil, errNotFound
		}
		// cuBLAS needs the libcublasLt of its release; a wheel's folder is
		// not on the loader's path, so load the one beside it first.
		ltName := filepath.Join(filepath.Dir(name), strings.Replace(filepath.Base(name), "libcublas.", "libcublasLt.", 1))
		if _, err := os.Stat(ltName); err == nil {
			var msg string
			if lt, msg = dlopen(ltName, C.RTLD_GLOBAL); lt == nil {
				return nil, nil, fmt.Errorf("%s: %s", ltName, msg)
			}
		}
	}
	lib, msg := dlopen(name, C.RTLD_LOCAL)
	if lib != nil {
		return lib, lt, nil
	}
	closeLibrary(nil, lt)
	// The loader names the file it could not find: when that is not name
	// itself but a dependency, the library is there and will not load.
	if !filepath.IsAbs(name) && strings.HasPrefix(msg, name+": cannot open shared object file: No such file") {
		return nil, nil, errNotFound
	}
	return nil, nil, fmt.Errorf("%s: %s", name, msg)
}

// closeLibrary closes what openLibrary opened; either may be nil.
func closeLibrary(lib, lt unsafe.Pointer) {
	for _, h := range []unsafe.Pointer{lib, lt} {
		if h != nil {
			C.dlclose(h)
		}
	}
}

// dlopen opens the library at name, binding every symbol now; on failure
// it returns the loader's own message.
func dlopen(name string, scope C.int) (unsafe.Pointer, string) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	if h := C.dlopen(cname, C.RTLD_NOW|scope); h != nil {
		return h, ""
	}
	return nil, C.GoString(C.dlerror())
}
