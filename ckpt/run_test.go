package ckpt

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scoregen/scoregen/configs"
)

// A run's checkpoint keeps its family, config, step, groups and data
// position; one whose family and config disagree is refused by name; a
// version-1 checkpoint (the score family's) still opens.
func TestRunCheckpointRoundTrip(t *testing.T) {
	cfg, err := configs.Load("", []string{"model.type=gan"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, Name(7))
	groups := []Group{{Name: "d", AdamStep: 35, EMAUpdates: 0}, {Name: "g", AdamStep: 7, EMAUpdates: 7}}
	ts := []Tensor{{Name: "g.w", Shape: []int{2}, Data: []float32{1, 2}}}
	if err := SaveRun(path, ts, RunMeta{Family: "gan", Config: cfg, Step: 7, Groups: groups, DataPosition: json.RawMessage(`{"epoch":1}`)}); err != nil {
		t.Fatal(err)
	}
	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Family != "gan" || c.Step != 7 || len(c.Groups) != 2 || c.Groups[1] != groups[1] || string(c.DataPosition) != `{"epoch":1}` || c.Config.GAN != cfg.GAN {
		t.Fatalf("read back %+v", c.RunMeta)
	}
	if g, err := c.Group("d"); err != nil || g.AdamStep != 35 {
		t.Fatalf("group d: %+v, %v", g, err)
	}
	if _, err := c.Group("net"); err == nil || !strings.Contains(err.Error(), `"net"`) {
		t.Fatalf("a missing group: err = %v", err)
	}
	if w, ok := c.Weights("g.w"); !ok || w[1] != 2 {
		t.Fatalf("weights g.w = %v, %v", w, ok)
	}
	if _, err := c.Tensor("g.w", 3); err == nil || !strings.Contains(err.Error(), "has 2 values, the model needs 3") {
		t.Fatalf("a tensor of the wrong size: err = %v", err)
	}

	bad := filepath.Join(dir, "bad.safetensors")
	if err := SaveRun(bad, ts, RunMeta{Family: "vae", Config: cfg, Step: 1, DataPosition: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(bad); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), `model.type "gan"`) {
		t.Fatalf("family vae with a gan config: err = %v", err)
	}

	// Version 1's config predates the vae and gan sections and Adam's
	// betas: they take the defaults.
	old := filepath.Join(dir, "v1.safetensors")
	unet, err := configs.Load("", []string{"model.mult=[1, 2]"})
	if err != nil {
		t.Fatal(err)
	}
	var v1 []string
	skip := false
	for line := range strings.Lines(unet.YAML()) {
		top := !strings.HasPrefix(line, " ")
		if top {
			skip = line == "vae:\n" || line == "gan:\n"
		}
		if !skip && !strings.Contains(line, "beta1:") && !strings.Contains(line, "beta2:") {
			v1 = append(v1, line)
		}
	}
	if err := Save(old, ts, map[string]string{"format": runFormat1, "config": strings.Join(v1, ""), "step": "3", "adam_step": "3", "ema_updates": "2", "data_position": "{}"}); err != nil {
		t.Fatal(err)
	}
	c, err = Open(old)
	if err != nil {
		t.Fatal(err)
	}
	if c.Family != "unet" || c.Step != 3 || len(c.Groups) != 1 || c.Groups[0] != (Group{Name: "net", AdamStep: 3, EMAUpdates: 2}) {
		t.Fatalf("version 1: %+v", c.RunMeta)
	}
	if c.Config.VAE.Latent != 32 || c.Config.Train.Beta2 != 0.999 || len(c.Config.Model.Mult) != 2 {
		t.Fatalf("version 1's config: vae %+v, beta2 %v, mult %v; want the defaults and its own mult", c.Config.VAE, c.Config.Train.Beta2, c.Config.Model.Mult)
	}
}
