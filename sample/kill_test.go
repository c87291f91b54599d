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
// clean run bit for bit.
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
	kills := 0
	for k := range 2 {
		npy := filepath.Join(dir, "shard"+strconv.Itoa(k)+".npy")
		shards = append(shards, npy)
		for try := 0; ; try++ {
			cmd := exec.Command(bin, args(npy, strconv.Itoa(k)+"/2")...)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var err error
			if try < 4 {
				select {
				case err = <-done:
				case <-time.After(time.Duration(100+r.IntN(700)) * time.Millisecond):
					_ = cmd.Process.Signal(syscall.SIGKILL)
					<-done
					kills++
					continue
				}
			} else {
				err = <-done
			}
			if err != nil {
				t.Fatalf("shard %d, run %d: %v", k, try, err)
			}
			break
		}
	}
	if kills == 0 {
		t.Fatal("no run was killed: the runs are too short for this test")
	}
	t.Logf("%d kills", kills)
	if err := Merge(filepath.Join(dir, "merged.npy"), shards, "", 0); err != nil {
		t.Fatal(err)
	}
	sameFile(t, "killed shards merged vs a clean run", clean, filepath.Join(dir, "merged.npy"))
}
