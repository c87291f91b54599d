package engine_test

import (
	"testing"

	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/nn"
)

// The profile counts each family's calls and FLOPs (a convolution's from
// its closed form), only for plans compiled while it is on, and only since
// the last reset.
func TestProfileCountsCallsAndFlops(t *testing.T) {
	g := gorgonia.NewGraph()
	x, w := input(g, "x", 2, 3, 8, 8), input(g, "w", 4, 3, 3, 3)
	y := must(nn.Conv2d(x, w, nil, 2, 1)) // [2, 4, 4, 4]
	z := must(nn.Activate(y, nn.SiLU, 0))

	before, err := engine.Compile([]*gorgonia.Node{z}, engine.NewCPU())
	if err != nil {
		t.Fatal(err)
	}
	engine.StartProfile()
	p, err := engine.Compile([]*gorgonia.Node{z}, engine.NewCPU())
	engine.StopProfile()
	if err != nil {
		t.Fatal(err)
	}
	engine.ResetProfile()
	for range 3 {
		if err := p.Run(); err != nil {
			t.Fatal(err)
		}
		if err := before.Run(); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]engine.OpTime{}
	for _, o := range engine.Profile() {
		got[o.Family] = o
	}
	conv, act := got["Conv2d"], got["SiLU"]
	if conv.Calls != 3 || act.Calls != 3 {
		t.Fatalf("calls: Conv2d %d, SiLU %d; want 3 each (profile %+v)", conv.Calls, act.Calls, got)
	}
	// 2 images x 4 channels x 4x4 outputs, each 3x3x3 multiply-adds.
	if want := 3 * 2.0 * (2 * 4 * 16) * 27; conv.Flops != want {
		t.Errorf("Conv2d FLOPs %g, want %g", conv.Flops, want)
	}
	if conv.Library == "" || act.Library != "" || act.Flops != 0 {
		t.Errorf("library %q and %q, SiLU FLOPs %g: want the convolution's library only", conv.Library, act.Library, act.Flops)
	}
	if conv.Seconds <= 0 {
		t.Errorf("Conv2d took %g s", conv.Seconds)
	}
	engine.ResetProfile()
	if left := engine.Profile(); len(left) != 0 {
		t.Errorf("after a reset the profile holds %+v", left)
	}
}
