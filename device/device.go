// Package device compiles graphs on the device an experiment names: "cpu",
// or "cuda" (the first GPU) in binaries built with the tag gpu. Families'
// samplers use it so that they need not know the backends.
package device

import (
	"errors"
	"fmt"

	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/engine"
)

// ErrNoCUDA is the error for device cuda in a binary built without the tag
// gpu.
var ErrNoCUDA = errors.New("device cuda: this binary was built without CUDA; build it with `make gpu` on a machine with the CUDA toolkit")

// Options are how plans are compiled.
type Options struct {
	GPU configs.GPU
	// BatchInvariant asks for images that do not depend on the other
	// images of their batch (engine.CPU.BatchInvariant): samplers set it.
	// The GPU backend ignores it.
	BatchInvariant bool
}

// Plans are plans compiled together on one device (engine.CompileShared):
// they share their inputs.
type Plans struct {
	Plans []*engine.Plan
	// Backend is the plans' backend: *engine.CPU, or *gpu.Backend for
	// code built with the tag gpu that adds kernels of its own.
	Backend engine.Backend
	close   func()
}

// Compile compiles one plan per set of outputs on the named device.
func Compile(name string, o Options, outputs ...gorgonia.Nodes) (*Plans, error) {
	switch name {
	case "cpu":
		cpu := &engine.CPU{BatchInvariant: o.BatchInvariant}
		plans, err := engine.CompileShared(cpu, outputs...)
		if err != nil {
			return nil, err
		}
		return &Plans{Plans: plans, Backend: cpu, close: func() {}}, nil
	case "cuda":
		return compileCUDA(o, outputs)
	}
	return nil, fmt.Errorf("device %q: want cpu or cuda", name)
}

// Close releases the plans' device memory (and on the GPU, its context).
func (p *Plans) Close() { p.close() }
