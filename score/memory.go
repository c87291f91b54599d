package score

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/internal/sysmem"
	"github.com/scoregen/scoregen/unet"
)

// Memory is what a training step or a sampling run will take, estimated
// before any of it is allocated, so that a size that cannot fit is refused
// with an error instead of ending in the runtime's out-of-memory trace.
type Memory struct {
	Host   int64 // bytes of host memory
	Device int64 // bytes of GPU memory (0 on the CPU)
	// Fixed is the part of Host (on the CPU) or Device (on the GPU) that no
	// batch size lowers: the copies of the weights there (the builder's,
	// the plan's, a checkpoint's), their gradients, Adam's moments and the
	// EMA. When it alone does not fit, the model is too wide.
	Fixed int64
	Plan  int64 // the compiled plan's buffers, part of Host or Device

	what   string // "the training step" or "sampling", for messages
	device string
	batch  int
	ch     int
}

const (
	f32 = 4 // bytes of a float32
	// baseline is the host memory of the process around the plan: the Go
	// runtime, OpenBLAS's buffers, the gorgonia graph and transient garbage
	// of building it; measured with cmd/bench (mnist, batches 8 to 64).
	baseline = 32 << 20
	// loaderBatches are the batches of images the training loop holds on the
	// host: the trainer's own and the data loader's prefetchDepth+1
	// (data/loader.go).
	loaderBatches = 5
	// cublasWorkspace is the workspace the GPU backend gives cuBLAS
	// (gpu/cublas.go).
	cublasWorkspace = 32 << 20
	// probeParams caps the parameters of a network built only to measure
	// its plan: a wider one is measured at a smaller width and scaled
	// (its weights, 4 bytes each, are allocated by the build: 192 MiB, with
	// a small graph's own allocations, under 256 MiB).
	probeParams = 48 << 20
)

// TrainingMemory estimates what New will take for cfg's training step on
// cfg.Device, netCfg being NetConfig(cfg).
func TrainingMemory(netCfg unet.Config, cfg *configs.Config) (Memory, error) {
	batch := cfg.Data.BatchSize
	// A consistency model's step holds a third copy of the weights, the
	// target network's, in its plan, and its builder's beside the graph.
	nets := int64(1)
	if cfg.Model.Objective == "consistency" {
		nets = 2
	}
	m, err := newMemory("the training step", netCfg, batch, cfg.Device, 1+nets, func(c unet.Config) (gorgonia.Nodes, error) {
		loss, params, err := stepLoss(c, batch, nets == 2)
		if err != nil {
			return nil, err
		}
		grads, err := gorgonia.Grad(loss, params...)
		if err != nil {
			return nil, err
		}
		return append(gorgonia.Nodes{loss}, grads...), nil
	})
	if err != nil {
		return m, err
	}
	p, images := f32*netCfg.ParamCount(), f32*int64(batch)*imageSize(netCfg)
	// The builders' initial weights stay with the graph on the host. The
	// step holds, on its device, the live weights, their gradients and a
	// consistency model's target weights ((1+nets) p of the plan) and
	// Adam's two moments and the EMA, three more copies beside the plan.
	step := (1+nets)*p + 3*p
	m.Host += nets*p + loaderBatches*images
	if m.device == "cpu" {
		m.Host += m.Plan + 3*p
		m.Fixed = nets*p + step
		return m, nil
	}
	// On the GPU: the clean batch and the optimiser's state on the device,
	// its pinned staging buffer and checkpoints' copies of the four
	// parameter tensors (and a consistency model's target) on the host.
	m.Device += m.Plan + 3*p + images + cublasWorkspace
	m.Host += images + (3+nets)*p
	m.Fixed = step
	return m, nil
}

// stepLoss builds a training step's graph of the network c for measuring
// it (a consistency model's with consistency; improved training's loss
// adds only a weight per image, left out): its loss and the parameters it
// trains.
func stepLoss(c unet.Config, batch int, consistency bool) (*gorgonia.Node, []*gorgonia.Node, error) {
	if consistency {
		cg, err := newConsistencyGraph(c, batch, 0, false)
		if err != nil {
			return nil, nil, err
		}
		return cg.loss, cg.online.Params, nil
	}
	sg, err := newStepGraph(c, batch, 0)
	if err != nil {
		return nil, nil, err
	}
	return sg.loss, sg.net.Params, nil
}

// SamplingMemory estimates what NewScoreModel and a run of Sample (with a
// corrector, the larger) will take for batches of `batch` images on device.
func SamplingMemory(netCfg unet.Config, batch int, device string) (Memory, error) {
	m, err := newMemory("sampling", netCfg, batch, device, 1, func(c unet.Config) (gorgonia.Nodes, error) {
		net, err := unet.Build(gorgonia.NewGraph(), c, batch, false, 0)
		if err != nil {
			return nil, err
		}
		return gorgonia.Nodes{net.Out}, nil
	})
	if err != nil {
		return m, err
	}
	p, images := f32*netCfg.ParamCount(), f32*int64(batch)*imageSize(netCfg)
	// The builder's weights, the checkpoint's weights being loaded, and on
	// the host the samples, the score and the corrector's noise (sde's
	// sampler), and the grid image (no larger than the samples). The plan
	// holds one more copy of the weights, on its device. The fixed-step
	// ODE samplers keep their state and first slope in float64 (four
	// images' worth), where the sampler runs.
	m.Host += 2*p + 4*images
	if m.device == "cpu" {
		m.Host += m.Plan + 4*images
		m.Fixed = 2*p + p
		return m, nil
	}
	// The GPU sampler keeps x in the plan, and its noise and the ODE
	// samplers' state beside it.
	m.Device += m.Plan + 5*images + cublasWorkspace
	m.Fixed = p
	return m, nil
}

func imageSize(c unet.Config) int64 { return int64(c.Channels) * int64(c.Height) * int64(c.Width) }

// newMemory starts an estimate with the size of the plan of the graph that
// build makes, without allocating the plan, and the process's baseline.
// The plan holds `copies` copies of the weights: the weights and their
// gradients (a training step, 2; a consistency model's, with its target
// weights, 3) or the weights (sampling, 1).
func newMemory(what string, netCfg unet.Config, batch int, device string, copies int64, build func(unet.Config) (gorgonia.Nodes, error)) (Memory, error) {
	m := Memory{what: what, device: device, batch: batch, ch: netCfg.Ch, Host: baseline}
	backend, err := planBackend(device)
	if err != nil {
		return m, err
	}
	weights := copies * f32 * netCfg.ParamCount()
	probe, scale, ok := probeConfig(netCfg)
	if !ok {
		// Even the narrowest probe has too many weights to build (a very
		// deep network): the plan is estimated from ParamCount alone, as
		// its copies of the weights. Its activations are left out, so this
		// is a lower bound, and one whose weights alone do not fit is
		// still refused.
		m.Plan = weights
		return m, nil
	}
	outputs, err := build(probe)
	if err != nil {
		return m, err
	}
	plan, err := engine.PlanBytes(backend, outputs)
	if err != nil {
		return m, err
	}
	if scale == 1 {
		m.Plan = plan
		return m, nil
	}
	// The weights grow with the square of the width, the activations with
	// the width. Attention's matrices do not, so scaling them too
	// overestimates a little.
	activations := plan - copies*f32*probe.ParamCount()
	m.Plan = weights + int64(float64(activations)*scale)
	return m, nil
}

// probeWidth is the step of a probe's width: 32 channels times any mult is
// a count that GroupNorm's min(32, C/4) groups divide (unet's constraint).
const probeWidth = 32

// probeConfig is the network to build for measuring netCfg's plan, and the
// factor by which its width is smaller: netCfg itself when its weights are
// few enough to allocate, otherwise the widest multiple of probeWidth
// whose weights are, searched from the width at which they would be if
// they grew with its square (narrower than netCfg, whose weights are not;
// they grow at least that fast). ok is false when even probeWidth channels
// have too many.
func probeConfig(netCfg unet.Config) (probe unet.Config, scale float64, ok bool) {
	n := netCfg.ParamCount()
	if n <= probeParams {
		return netCfg, 1, true
	}
	probe = netCfg
	probe.Ch = int(float64(netCfg.Ch)*math.Sqrt(float64(probeParams)/float64(n))) / probeWidth * probeWidth
	for ; probe.Ch >= probeWidth; probe.Ch -= probeWidth {
		if probe.ParamCount() <= probeParams {
			return probe, float64(netCfg.Ch) / float64(probe.Ch), true
		}
	}
	return netCfg, 0, false
}

// Check returns nil when m fits this machine's available memory (and on the
// GPU, the device's free memory), and otherwise one line saying how much is
// needed, how much there is, and what to lower: batchKey (the key or flag
// of the batch size, e.g. "data.batch_size" or "--batch") or, when the
// model's weights and optimiser state alone do not fit, model.ch.
func (m Memory) Check(batchKey string) error {
	avail, err := sysmem.Available()
	if err != nil {
		return err
	}
	if err := m.fits("host", m.Host, avail, m.device == "cpu", batchKey); err != nil {
		return err
	}
	if m.device == "cpu" {
		return nil
	}
	free, err := deviceFree()
	if err != nil {
		return err
	}
	return m.fits("GPU", m.Device, free, true, batchKey)
}

// fits compares need with have; fixed says whether m.Fixed lives there.
func (m Memory) fits(where string, need, have int64, fixed bool, batchKey string) error {
	if need <= have {
		return nil
	}
	lower := batchKey
	if fixed && m.Fixed > have {
		lower = "model.ch"
	}
	return fmt.Errorf("%s needs %s of %s memory (batch %d, model.ch %d), this machine has %s available: lower %s",
		m.what, gib(need), where, m.batch, m.ch, gib(have), lower)
}

func gib(b int64) string { return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30)) }

// cpuPlanBackend is the CPU backend, for sizing a plan, or the error for
// an unknown device.
func cpuPlanBackend(device string) (engine.Backend, error) {
	if device != "cpu" {
		return nil, fmt.Errorf("device %q: want cpu or cuda", device)
	}
	return engine.NewCPU(), nil
}

// CheckTraining refuses, before anything is allocated, a training step of
// cfg (netCfg being NetConfig(cfg)) that does not fit this machine, naming
// data.batch_size or model.ch.
func CheckTraining(netCfg unet.Config, cfg *configs.Config) error {
	m, err := TrainingMemory(netCfg, cfg)
	if err != nil {
		return err
	}
	return m.Check("data.batch_size")
}

// CheckSampling refuses, before anything is allocated, sampling batches of
// `batch` images on device that do not fit this machine, naming batchKey
// (the caller's key or flag for the batch size) or model.ch.
func CheckSampling(netCfg unet.Config, batch int, device, batchKey string) error {
	m, err := SamplingMemory(netCfg, batch, device)
	if err != nil {
		return err
	}
	return m.Check(batchKey)
}

// CheckSampling is model.SamplingChecker: CheckSampling for the family's
// network.
func (f *Family) CheckSampling(batch int, device, batchKey string) error {
	return CheckSampling(f.Net, batch, device, batchKey)
}
