package sample

import (
	"encoding/json"
	"testing"
)

// A resume compares the settings whose zero is a value of its own: eta 0
// against 1, class 0 against 5, guidance 0 against 3 differ; a sidecar
// written before eta existed (no key) matches eta 0, and one of an
// unconditional model (no class, no guidance) matches another.
func TestDiffSeesZeroValues(t *testing.T) {
	zero, five, three, none := 0, 5, 3.0, 0.0
	base := Args{Sampler: "ddim", Steps: 10, N: 4, Batch: 4, Shape: []int{1, 2, 2}}
	for _, c := range []struct {
		what   string
		change func(*Args)
		want   string
	}{
		{"eta", func(a *Args) { a.Eta = 1 }, "eta"},
		{"class", func(a *Args) { a.Class, a.Guidance = &five, &none }, "class"},
		{"guidance", func(a *Args) { a.Class, a.Guidance = &zero, &three }, "guidance"},
	} {
		prev := base
		prev.Class, prev.Guidance = &zero, &none
		if c.what == "eta" {
			prev.Class, prev.Guidance = nil, nil
		}
		now := prev
		c.change(&now)
		if key, _, _ := diff(prev, now); key != c.want {
			t.Errorf("%s changed: diff names %q", c.what, key)
		}
	}
	var old Args
	if err := json.Unmarshal([]byte(`{"sampler": "ddim", "steps": 10, "n": 4, "batch": 4, "shape": [1, 2, 2]}`), &old); err != nil {
		t.Fatal(err)
	}
	if key, _, _ := diff(old, base); key != "" {
		t.Errorf("a sidecar from before eta, class and guidance: diff names %q", key)
	}
}
