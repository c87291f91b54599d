package sample

import (
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// The built cmd/sample, SIGKILLed at random moments and started again with
// the same arguments, in two shards, then merged, gives the .npy of one
// clean run bit for bit. After each kill the sidecar must read, and at
// least one kill must have landed mid-run.
func TestKilledShardsMergeToOneRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/sample and kills it several times")
	}
	ckpt := trainTiny(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "sample")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/sample").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	args := func(npy, shard string) []string {
		return []string{"--ckpt", ckpt, "--n", "120", "--batch", "4", "--steps", "2", "--seed", "5",
			"--sampler", "em", "--device", "cpu", "--out", "", "--npy", npy, "--shard", shard}
	}
	clean := filepath.Join(dir, "clean.npy")
	if out, err := exec.Command(bin, args(clean, "0/1")...).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	r := rand.New(rand.NewPCG(1, 2))
	var shards []string
	kills, midRun := 0, 0
	for k := range 2 {
		npy := filepath.Join(dir, "shard"+strconv.Itoa(k)+".npy")
		shards = append(shards, npy)
		for try := 0; ; try++ {
			cmd := exec.Command(bin, args(npy, strconv.Itoa(k)+"/2")...)
			from, _ := recorded(t, npy)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			// Four kills a shard: even ones within 150 ms of the start (the
			// start-up, creating the files), odd ones up to 60 ms after the
			// run records its first batch since this start, mid-run.
			if try < 4 && killAt(t, r, try%2 == 1, npy, from, done, cmd) {
				kills++
				if d, all := recorded(t, npy); 0 < d && d < all {
					midRun++
				}
				continue
			}
			if err := <-done; err != nil {
				t.Fatalf("shard %d, run %d: %v", k, try, err)
			}
			break
		}
	}
	if midRun == 0 {
		t.Fatalf("none of %d kills landed mid-run, with some but not all of the shard's images done: the runs are too short for this test", kills)
	}
	t.Logf("%d kills, %d mid-run", kills, midRun)
	if err := Merge(filepath.Join(dir, "merged.npy"), shards, "", 0); err != nil {
		t.Fatal(err)
	}
	sameFile(t, "killed shards merged vs a clean run", clean, filepath.Join(dir, "merged.npy"))
}

// recorded is what the sidecar of npy records: the images complete and
// those of the shard, 0 and 0 if there is none yet; a broken sidecar fails
// the test.
func recorded(t *testing.T, npy string) (done, all int) {
	t.Helper()
	s, err := readSidecar(npy)
	if err != nil {
		t.Fatal(err)
	}
	if s == nil {
		return 0, 0
	}
	return s.Done, s.End - s.First
}

// killAt SIGKILLs cmd, whose Wait reports on done, at a random moment:
// within 150 ms of now, or if afterBatch up to 60 ms after npy's sidecar
// records more than from images done. It returns false, leaving done's
// report unread, if the run ended first.
func killAt(t *testing.T, r *rand.Rand, afterBatch bool, npy string, from int, done chan error, cmd *exec.Cmd) bool {
	t.Helper()
	delay := time.Duration(r.IntN(150)) * time.Millisecond
	if afterBatch {
		for d, _ := recorded(t, npy); d <= from; d, _ = recorded(t, npy) {
			select {
			case err := <-done:
				done <- err
				return false
			case <-time.After(2 * time.Millisecond):
			}
		}
		delay = time.Duration(r.IntN(60)) * time.Millisecond
	}
	select {
	case err := <-done:
		done <- err
		return false
	case <-time.After(delay):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
		return true
	}
}
