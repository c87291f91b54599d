package train

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scoregen/scoregen/ckpt"
	"github.com/scoregen/scoregen/configs"
)

// loggedTrainer is newTrainer with its log kept in the returned buffer.
func loggedTrainer(t *testing.T, cfg *configs.Config, resume bool) (*Trainer, *bytes.Buffer) {
	t.Helper()
	var log bytes.Buffer
	tr, err := New(family(t, cfg), cfg, digits(40), Options{Resume: resume, Log: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	return tr, &log
}

func run(t *testing.T, tr *Trainer) {
	t.Helper()
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// metricSteps returns the step of each line of dir's metrics.jsonl.
func metricSteps(t *testing.T, dir string) []int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, metricsFile))
	if err != nil {
		t.Fatal(err)
	}
	var steps []int
	for line := range strings.Lines(string(b)) {
		var st Stats
		if err := json.Unmarshal([]byte(line), &st); err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		steps = append(steps, st.Step)
	}
	return steps
}

// When the newest checkpoint is truncated, or damaged where it still
// parses, LoadCheckpoint and --resume use the one before, say which file
// they skipped and why, and keep the bad file (under a name that a later
// save of its step cannot replace).
func TestResumeSkipsACorruptCheckpoint(t *testing.T) {
	for name, damage := range map[string]func([]byte) []byte{
		"truncated":   func(b []byte) []byte { return b[:len(b)/2] },
		"flipped bit": func(b []byte) []byte { b[len(b)-3] ^= 1; return b },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			run(t, newTrainer(t, smallConfig(t, dir, "train.steps=4", "train.ckpt_every=2"), false))
			bad := filepath.Join(dir, ckpt.Name(4))
			b, err := os.ReadFile(bad)
			if err != nil {
				t.Fatal(err)
			}
			b = damage(b)
			if err := os.WriteFile(bad, b, 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := ckpt.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			if c.Path != filepath.Join(dir, ckpt.Name(2)) || len(c.Skipped) != 1 || c.Skipped[0].Path != bad ||
				!strings.Contains(c.Skipped[0].Err.Error(), bad) || !strings.Contains(c.Skipped[0].Err.Error(), "corrupt") {
				t.Fatalf("ckpt.Open(%s) = %s, skipped %v; want %s, skipping %s as corrupt", dir, c.Path, c.Skipped, ckpt.Name(2), bad)
			}

			tr, log := loggedTrainer(t, smallConfig(t, dir, "train.steps=4", "train.ckpt_every=2"), true)
			if tr.Step() != 2 {
				t.Fatalf("resumed at step %d, want 2", tr.Step())
			}
			if !strings.Contains(log.String(), "level=WARN") || !strings.Contains(log.String(), bad) || !strings.Contains(log.String(), "corrupt") {
				t.Errorf("log does not warn about %s:\n%s", bad, log)
			}
			run(t, tr)
			kept, err := os.ReadFile(bad + corruptSuffix)
			if err != nil || !bytes.Equal(kept, b) {
				t.Fatalf("the corrupt checkpoint was not kept as %s (%v)", bad+corruptSuffix, err)
			}
			if c, err := ckpt.Open(dir); err != nil || c.Path != bad || len(c.Skipped) != 0 {
				t.Fatalf("after the resumed run: %v, %v; want a new intact %s", c, err, bad)
			}
		})
	}
}

// With every checkpoint bad, --resume fails naming each, and touches none.
func TestResumeWithNoIntactCheckpointFails(t *testing.T) {
	dir := t.TempDir()
	run(t, newTrainer(t, smallConfig(t, dir, "train.steps=2", "train.ckpt_every=1"), false))
	for _, s := range []int{1, 2} {
		if err := os.WriteFile(filepath.Join(dir, ckpt.Name(s)), []byte("garbage"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := smallConfig(t, dir)
	_, err := New(family(t, cfg), cfg, digits(8), Options{Resume: true})
	if err == nil || !strings.Contains(err.Error(), "--resume") || !strings.Contains(err.Error(), "no intact checkpoint") ||
		!strings.Contains(err.Error(), ckpt.Name(1)) || !strings.Contains(err.Error(), ckpt.Name(2)) {
		t.Fatalf("err = %v, want one naming --resume and both checkpoints", err)
	}
	for _, s := range []int{1, 2} {
		if b, err := os.ReadFile(filepath.Join(dir, ckpt.Name(s))); err != nil || string(b) != "garbage" {
			t.Errorf("%s changed or went: %q, %v", ckpt.Name(s), b, err)
		}
	}
}

// --resume in a folder with no checkpoint (a run killed before its first
// save, or never started) starts from step 0, says so, and drops the
// metrics the killed run wrote.
func TestResumeWithoutCheckpointStartsAtZero(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, metricsFile), []byte(`{"step":1,"loss":9}`+"\n"+`{"step":2,"loss":9}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(dir, "missing"), dir} {
		tr, log := loggedTrainer(t, smallConfig(t, d, "train.steps=2"), true)
		if tr.Step() != 0 || !strings.Contains(log.String(), "no checkpoint yet, starting from step 0") || !strings.Contains(log.String(), d) {
			t.Fatalf("%s: step %d, log:\n%s\nwant step 0 and a line saying so", d, tr.Step(), log)
		}
		run(t, tr)
	}
	if got := metricSteps(t, dir); len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("metrics.jsonl steps %v, want [1 2] once each", got)
	}
}

// After a resume, metrics.jsonl holds each step once: the lines the killed
// run wrote past its last checkpoint, and a line it cut short, are dropped.
func TestResumeDropsMetricsPastTheCheckpoint(t *testing.T) {
	dir := t.TempDir()
	run(t, newTrainer(t, smallConfig(t, dir, "train.steps=4", "train.ckpt_every=4"), false))
	f, err := os.OpenFile(filepath.Join(dir, metricsFile), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// What a run killed at step 7 after its checkpoint at 4 leaves.
	_, err = f.WriteString(`{"step":5,"loss":-1}` + "\n" + `{"step":6,"loss":-1}` + "\n" + `{"step":7,"lo`)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	run(t, newTrainer(t, smallConfig(t, dir, "train.steps=6", "train.ckpt_every=4"), true))
	if got := metricSteps(t, dir); len(got) != 6 || got[4] != 5 || got[5] != 6 {
		t.Fatalf("metrics.jsonl steps %v, want 1..6 once each", got)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, metricsFile)); strings.Contains(string(b), `"loss":-1}`) {
		t.Fatalf("the killed run's lines past step 4 are still there:\n%s", b)
	}
}

// Temporary files that a kill during a save left are removed when a run
// next starts in the folder, with a log line naming each.
func TestRunRemovesLeftoverTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	tmp := filepath.Join(dir, "."+ckpt.Name(2)+".tmp-12345")
	if err := os.WriteFile(tmp, []byte("half a checkpoint"), 0o644); err != nil {
		t.Fatal(err)
	}
	tr, log := loggedTrainer(t, smallConfig(t, dir, "train.steps=1"), false)
	run(t, tr)
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatalf("%s still there (%v)", tmp, err)
	}
	if !strings.Contains(log.String(), "temporary file") || !strings.Contains(log.String(), tmp) {
		t.Fatalf("no log line names %s:\n%s", tmp, log)
	}
}

// A checkpoint of one family given to another, or of another latent size,
// is refused by --resume with one line naming the file and what differs,
// and the checkpoint stays.
func TestResumeRefusesAnotherModel(t *testing.T) {
	dir := t.TempDir()
	run(t, newTrainer(t, experimentConfig(t, "mnist_vae.yaml", dir, "vae.ch=4", "vae.latent=4", "train.steps=1"), false))
	for _, c := range []struct {
		file string
		sets []string
		want string
	}{
		{"mnist_dcgan.yaml", []string{"gan.ch=4"}, "is of model.type vae, the config asks for gan"},
		{"mnist_vae.yaml", []string{"vae.ch=4", "vae.latent=8"}, "has vae.latent = 4, the config asks for 8"},
	} {
		cfg := experimentConfig(t, c.file, dir, c.sets...)
		_, err := New(family(t, cfg), cfg, digits(8), Options{Resume: true})
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), filepath.Join(dir, ckpt.Name(1))) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s %v: err = %v, want one line naming the checkpoint and saying %q", c.file, c.sets, err, c.want)
		}
	}
	if _, err := ckpt.Open(filepath.Join(dir, ckpt.Name(1))); err != nil {
		t.Fatalf("the checkpoint did not survive: %v", err)
	}
}
