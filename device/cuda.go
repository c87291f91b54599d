//go:build gpu

package device

import (
	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/gpu"
)

// compileCUDA opens GPU 0 and compiles the plans on a backend of their own.
func compileCUDA(o Options, outputs []gorgonia.Nodes) (*Plans, error) {
	dev, err := gpu.Open(0, gpu.Options{TF32: o.GPU.TF32})
	if err != nil {
		return nil, err
	}
	b := gpu.NewBackend(dev)
	closeAll := func() {
		b.Close()
		dev.Close()
	}
	plans, err := engine.CompileShared(b, outputs...)
	if err != nil {
		closeAll()
		return nil, err
	}
	return &Plans{Plans: plans, Backend: b, close: closeAll}, nil
}
