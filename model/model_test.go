package model_test

import (
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/device"
	"github.com/scoregen/scoregen/model"
	"github.com/scoregen/scoregen/nn"
)

// Load writes each node's tensor, or its average with ema where the
// weights keep one, and names a tensor they lack.
func TestWeightsLoad(t *testing.T) {
	g := gorgonia.NewGraph()
	a := gorgonia.NewTensor(g, tensor.Float32, 1, gorgonia.WithShape(2), gorgonia.WithName("a"))
	b := gorgonia.NewTensor(g, tensor.Float32, 1, gorgonia.WithShape(2), gorgonia.WithName("b"))
	ab, err := nn.Binary(nn.Mul, a, b)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := nn.Sum(ab)
	if err != nil {
		t.Fatal(err)
	}
	plans, err := device.Compile("cpu", device.Options{}, gorgonia.Nodes{sum})
	if err != nil {
		t.Fatal(err)
	}
	defer plans.Close()
	p := plans.Plans[0]
	tensors := map[string][]float32{"a": {1, 2}, "ema.a": {3, 4}, "b": {10, 100}}
	w := model.Weights(func(name string) ([]float32, bool) { v, ok := tensors[name]; return v, ok })
	for _, c := range []struct {
		ema  bool
		want float32
	}{{false, 1*10 + 2*100}, {true, 3*10 + 4*100}} { // b has no average: its weights either way
		if err := w.Load(p, []*gorgonia.Node{a, b}, c.ema); err != nil {
			t.Fatal(err)
		}
		if err := p.Run(); err != nil {
			t.Fatal(err)
		}
		got := make([]float32, 1)
		if err := p.Read(sum, got); err != nil {
			t.Fatal(err)
		}
		if got[0] != c.want {
			t.Errorf("ema %v: sum(a*b) = %v, want %v", c.ema, got[0], c.want)
		}
	}
	delete(tensors, "b")
	if err := w.Load(p, []*gorgonia.Node{a, b}, false); err == nil || !strings.Contains(err.Error(), "no tensor b") {
		t.Errorf("weights without b: err = %v, want one naming b", err)
	}
}
