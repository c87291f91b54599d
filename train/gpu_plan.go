//go:build gpu

package train

import (
	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/gpu"
)

// gpuPlan is a plan compiled on a GPU context of its own: the device, the
// backend that holds the plan's memory, and the plan.
type gpuPlan struct {
	dev  *gpu.Device
	b    *gpu.Backend
	plan *engine.Plan
}

// compileOnGPU opens GPU 0 with the settings g and compiles outputs there.
func compileOnGPU(outputs gorgonia.Nodes, g configs.GPU) (*gpuPlan, error) {
	dev, err := gpu.Open(0, gpu.Options{TF32: g.TF32})
	if err != nil {
		return nil, err
	}
	p := &gpuPlan{dev: dev, b: gpu.NewBackend(dev)}
	if p.plan, err = engine.Compile(outputs, p.b); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// slot is where node n lives in the plan, and buf that place on the device.
func (p *gpuPlan) slot(n *gorgonia.Node) engine.Slot {
	s, _ := p.plan.Slot(n)
	return s
}

func (p *gpuPlan) buf(n *gorgonia.Node) gpu.Buf { return p.b.Slot(p.slot(n)) }

func (p *gpuPlan) close() {
	p.b.Close()
	p.dev.Close()
}
