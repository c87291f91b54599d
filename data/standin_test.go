package data

import (
	"bytes"
	"strings"
	"testing"
)

// Load reads a stand-in as the named set; a bad one is refused by name.
func TestWriteStandIn(t *testing.T) {
	dir := t.TempDir()
	ds := &Dataset{Name: "fashion", N: 3, C: 1, H: 2, W: 4, Pixels: pattern(24, 1), Labels: []uint8{7, 8, 9}}
	if err := WriteStandIn(dir, "fashion", ds); err != nil {
		t.Fatal(err)
	}
	got, err := Load("fashion", dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "fashion" || got.N != 3 || got.H != 2 || got.W != 4 || !bytes.Equal(got.Pixels, ds.Pixels) || !bytes.Equal(got.Labels, ds.Labels) {
		t.Fatalf("Load read %+v, want %+v", got, ds)
	}
	if err := WriteStandIn(dir, "cifar10", ds); err == nil || !strings.Contains(err.Error(), `"cifar10"`) {
		t.Errorf("cifar10: %v", err)
	}
	ds.Labels = ds.Labels[:2]
	if err := WriteStandIn(dir, "mnist", ds); err == nil || !strings.Contains(err.Error(), "2 labels") {
		t.Errorf("too few labels: %v", err)
	}
}
