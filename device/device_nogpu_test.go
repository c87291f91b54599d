//go:build !gpu

package device_test

import (
	"errors"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/device"
	"github.com/scoregen/scoregen/nn"
)

func TestCompileOnTheCPU(t *testing.T) {
	g := gorgonia.NewGraph()
	x := gorgonia.NewTensor(g, tensor.Float32, 2, gorgonia.WithShape(2, 3), gorgonia.WithName("x"))
	y, err := nn.Scale(x, 3)
	if err != nil {
		t.Fatal(err)
	}
	p, err := device.Compile("cpu", device.Options{BatchInvariant: true}, gorgonia.Nodes{y})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Plans[0].Write(x, []float32{1, 2, 3, 4, 5, 6}); err != nil {
		t.Fatal(err)
	}
	if err := p.Plans[0].Run(); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, 6)
	if err := p.Plans[0].Read(y, got); err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if v != 3*float32(i+1) {
			t.Fatalf("y = %v, want 3x", got)
		}
	}
}

func TestUnknownDevice(t *testing.T) {
	_, err := device.Compile("tpu", device.Options{})
	if err == nil || !strings.Contains(err.Error(), `"tpu"`) {
		t.Fatalf("device tpu: err = %v, want one naming it", err)
	}
}

func TestCUDAWithoutTheTag(t *testing.T) {
	if _, err := device.Compile("cuda", device.Options{}); !errors.Is(err, device.ErrNoCUDA) {
		t.Fatalf("device cuda: err = %v", err)
	}
}
