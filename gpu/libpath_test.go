package gpu

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeBLAS builds, in dir, a libcublas.so.13 that needs a libcublasLt.so.13
// (as the real one does) and, if withLt, that libcublasLt beside it. Neither
// has a run path, as in a folder the loader does not search.
func fakeBLAS(t *testing.T, dir string, withLt bool) string {
	t.Helper()
	if _, err := exec.LookPath("cc"); err != nil {
		t.Skip("no C compiler to build fake libraries with")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cc := func(name, src string, args ...string) {
		c := filepath.Join(dir, name+".c")
		if err := os.WriteFile(c, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("cc", append([]string{"-shared", "-fPIC", "-o", filepath.Join(dir, name), "-Wl,-soname," + name, c}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("cc %s: %v\n%s", name, err, out)
		}
	}
	cc("libcublasLt.so.13", "int cublasLtCreate(void **h) { return 0; }\n")
	cc("libcublas.so.13", "int cublasLtCreate(void **h);\nint cublasCreate_v2(void **h) { return cublasLtCreate(h); }\n",
		"-L"+dir, "-l:libcublasLt.so.13")
	if !withLt {
		if err := os.Remove(filepath.Join(dir, "libcublasLt.so.13")); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "libcublas.so.13")
}

// cuBLAS from a pip wheel's folder under the active virtualenv is among the
// candidates, before any older release, and opens though its folder is not
// on the loader's path.
func TestBLASFromAWheel(t *testing.T) {
	venv := t.TempDir()
	t.Setenv("VIRTUAL_ENV", venv)
	lib := fakeBLAS(t, filepath.Join(venv, "lib", "python3.12", "site-packages", "nvidia", "cu13", "lib"), true)
	names := blasCandidates()
	at := slices.Index(names, lib)
	if at < 0 {
		t.Fatalf("%s is not among the candidates %v", lib, names)
	}
	if older := slices.IndexFunc(names, func(n string) bool { return strings.HasSuffix(n, ".so.12") }); older < at {
		t.Errorf("cuBLAS 12 (%s, at %d) is tried before the wheel's 13 (at %d)", names[older], older, at)
	}
	h, lt, err := openLibrary(lib)
	if err != nil {
		t.Fatal(err)
	}
	closeLibrary(h, lt)
}

// A cuBLAS that is there but whose libcublasLt is missing is an error with
// the loader's words naming libcublasLt, not "not found"; a library that is
// not there at all is errNotFound.
func TestBLASThatWillNotLoad(t *testing.T) {
	lib := fakeBLAS(t, t.TempDir(), false)
	_, _, err := openLibrary(lib)
	if err == nil || errors.Is(err, errNotFound) || !strings.Contains(err.Error(), "libcublasLt.so.13: cannot open shared object file") {
		t.Errorf("opening %s without its libcublasLt: %v", lib, err)
	}
	for _, name := range []string{"libcublas.so.99", filepath.Join(t.TempDir(), "libcublas.so.13")} {
		if _, _, err := openLibrary(name); !errors.Is(err, errNotFound) {
			t.Errorf("opening %s, which does not exist: %v, want errNotFound", name, err)
		}
	}
}
