package train

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"time"

	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/data"
	"github.com/scoregen/scoregen/grid"
	"github.com/scoregen/scoregen/internal/atomicfile"
	"github.com/scoregen/scoregen/nn"
	"github.com/scoregen/scoregen/optim"
	"github.com/scoregen/scoregen/sde"
	"github.com/scoregen/scoregen/unet"
)

// metricsFile is the name, in train.out_dir, of the file that gets a JSON
// line of Stats every train.log_every steps.
const metricsFile = "metrics.jsonl"

// Options are how a run reports and starts.
type Options struct {
	Resume   bool         // continue from the newest intact checkpoint in train.out_dir, or step 0 if none
	Log      *slog.Logger // progress messages; nil discards them
	Progress io.Writer    // a terminal for the progress bar; nil for none
}

// Trainer holds one run's state: the compiled step with its optimiser and
// EMA, on the device of the config, and the data stream.
type Trainer struct {
	cfg    *configs.Config
	net    *unet.Net
	netCfg unet.Config
	sde    sde.SDE
	dev    stepper
	loader *data.Loader
	step   int

	x0       []float32 // the current clean batch
	log      *slog.Logger
	progress io.Writer
}

// New builds the training step for cfg on ds, initialised from
// train.seed, on the config's device.
func New(cfg *configs.Config, ds *data.Dataset, opt Options) (*Trainer, error) {
	netCfg, err := NetConfig(cfg)
	if err != nil {
		return nil, err
	}
	if ds.C != netCfg.Channels || ds.H != netCfg.Height || ds.W != netCfg.Width {
		return nil, fmt.Errorf("data set %s has %dx%dx%d images, the %s model expects %dx%dx%d",
			ds.Name, ds.C, ds.H, ds.W, cfg.Data.Name, netCfg.Channels, netCfg.Height, netCfg.Width)
	}
	s, err := NewSDE(cfg.SDE)
	if err != nil {
		return nil, err
	}
	if err := CheckTraining(netCfg, cfg); err != nil {
		return nil, err
	}
	batch := cfg.Data.BatchSize
	sg, err := newStepGraph(netCfg, batch, cfg.Train.Seed)
	if err != nil {
		return nil, err
	}
	var dev stepper
	switch cfg.Device {
	case "cpu":
		dev, err = newCPUStep(sg, s, cfg)
	case "cuda":
		dev, err = newGPUStep(sg, cfg)
	default:
		err = fmt.Errorf("device %q: want cpu or cuda", cfg.Device)
	}
	if err != nil {
		return nil, err
	}
	tr := &Trainer{cfg: cfg, net: sg.net, netCfg: netCfg, sde: s, dev: dev,
		x0: make([]float32, batch*netCfg.Channels*netCfg.Height*netCfg.Width), log: opt.Log, progress: opt.Progress}
	if tr.log == nil {
		tr.log = slog.New(slog.DiscardHandler)
	}
	if tr.loader, err = data.NewLoader(ds, batch, cfg.Train.Seed, cfg.Data.Flip); err != nil {
		dev.close()
		return nil, err
	}
	if opt.Resume {
		if err := tr.resume(); err != nil {
			tr.Close()
			return nil, err
		}
	}
	return tr, nil
}

// Loss is the denoising score-matching loss with weighting std(t)^2 for a
// network that predicts the noise: the mean over the batch of the squared
// error summed over pixels (REFERENCE_UNET.md; Song et al. 2021, eq. 7).
func Loss(epsHat, z *gorgonia.Node) (*gorgonia.Node, error) {
	mse, err := nn.MSE(epsHat, z)
	if err != nil {
		return nil, err
	}
	s := epsHat.Shape()
	return nn.Scale(mse, float64(s.TotalSize()/s[0]))
}

// Close stops the data stream and releases the device.
func (tr *Trainer) Close() {
	tr.loader.Close()
	tr.dev.close()
}

// Memory is the bytes of the compiled step's buffers, and on a GPU the
// peak of the device memory taken (0 on the CPU).
func (tr *Trainer) Memory() (plan, devicePeak int64) { return tr.dev.memory() }

// Step is the number of steps done.
func (tr *Trainer) Step() int { return tr.step }

// Weights are the current parameters and their EMA, in parameter order
// (on the CPU, views of the step's memory).
func (tr *Trainer) Weights() (params, ema [][]float32, err error) {
	st, err := tr.dev.state()
	if err != nil {
		return nil, nil, err
	}
	return st.Params, st.EMA, nil
}

// Stats are what one step reports.
type Stats struct {
	Step       int     `json:"step"`
	Loss       float64 `json:"loss"`
	GradNorm   float64 `json:"grad_norm"`
	LR         float64 `json:"lr"`
	ImagesPerS float64 `json:"images_per_s"`
}

// TrainStep runs one step: a batch, its noising, forward and backward,
// clipping, Adam and the EMA. A loss or gradient norm that is not finite is
// an error naming the step, and the weights stay as they were before it.
func (tr *Trainer) TrainStep() (Stats, error) {
	start := time.Now()
	if err := tr.loader.Next(tr.x0); err != nil {
		return Stats{}, err
	}
	// Each step's noise and dropout masks are keyed by (seed, step), so a
	// resumed run draws what the uninterrupted one would have.
	lr := optim.WarmupLR(tr.cfg.Train.LR, tr.step+1, tr.cfg.Train.Warmup)
	loss, norm, err := tr.dev.run(tr.x0, uint64(tr.step), lr)
	if err != nil {
		return Stats{}, fmt.Errorf("step %d: %w", tr.step+1, err)
	}
	if !finite(loss) || !finite(norm) {
		return Stats{}, fmt.Errorf("step %d: loss %v, gradient norm %v: training diverged", tr.step+1, loss, norm)
	}
	tr.step++
	return Stats{Step: tr.step, Loss: loss, GradNorm: norm, LR: lr,
		ImagesPerS: float64(tr.cfg.Data.BatchSize) / time.Since(start).Seconds()}, nil
}

// Run trains to train.steps, logging, checkpointing and sampling on the
// schedule of the config. When ctx is cancelled (Ctrl-C) it writes a
// checkpoint and returns nil.
func (tr *Trainer) Run(ctx context.Context) error {
	c := tr.cfg.Train
	if err := os.MkdirAll(c.OutDir, 0o755); err != nil {
		return err
	}
	removed, err := atomicfile.RemoveTemps(c.OutDir)
	for _, path := range removed {
		tr.log.Info("removed a temporary file left by an interrupted save", "path", path)
	}
	if err != nil {
		return err
	}
	metrics, err := os.OpenFile(filepath.Join(c.OutDir, metricsFile), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer metrics.Close()
	bar := newProgress(tr.progress, tr.step, c.Steps)
	tr.log.Info("training", "model", tr.netCfg.Name, "device", tr.cfg.Device, "params", paramCount(tr.net.Params), "sde", tr.cfg.SDE.Type,
		"batch", tr.cfg.Data.BatchSize, "from_step", tr.step, "to_step", c.Steps, "out_dir", c.OutDir)
	for tr.step < c.Steps {
		if ctx.Err() != nil {
			bar.done()
			path, err := tr.Save()
			if err == nil {
				tr.log.Info("interrupted: checkpoint written", "step", tr.step, "path", path)
			}
			return err
		}
		st, err := tr.TrainStep()
		if err != nil {
			bar.done()
			return err
		}
		bar.update(st)
		if st.Step%c.LogEvery == 0 || st.Step == c.Steps {
			line, _ := json.Marshal(st)
			if _, err := fmt.Fprintf(metrics, "%s\n", line); err != nil {
				return fmt.Errorf("writing %s: %w", metrics.Name(), err)
			}
			tr.log.Info("step", "step", st.Step, "loss", st.Loss, "grad_norm", st.GradNorm, "lr", st.LR, "images_per_s", st.ImagesPerS)
		}
		if st.Step%c.CkptEvery == 0 || st.Step == c.Steps {
			if _, err := tr.Save(); err != nil {
				return err
			}
		}
		if c.SampleEvery > 0 && st.Step%c.SampleEvery == 0 {
			path := filepath.Join(c.OutDir, fmt.Sprintf("samples_%08d.png", st.Step))
			if err := tr.SampleGrid(path); err != nil {
				return err
			}
			tr.log.Info("samples written", "step", st.Step, "path", path)
		}
	}
	bar.done()
	return nil
}

// SampleGrid samples sample.n images from the EMA weights and writes them
// as a PNG grid.
func (tr *Trainer) SampleGrid(path string) error {
	n := tr.cfg.Sample.N
	m, err := NewScoreModel(tr.netCfg, tr.sde, n, tr.cfg.Device, tr.cfg.GPU)
	if err != nil {
		return err
	}
	defer m.Close()
	_, ema, err := tr.Weights()
	if err != nil {
		return err
	}
	if err := m.SetWeights(ema); err != nil {
		return err
	}
	x, err := m.Sample(tr.cfg.Sample, nil)
	if err != nil {
		return err
	}
	return grid.WritePNG(path, x, n, tr.netCfg.Channels, tr.netCfg.Height, tr.netCfg.Width, GridColumns(n))
}

// GridColumns is the number of columns of a near-square grid of n images.
func GridColumns(n int) int { return int(math.Ceil(math.Sqrt(float64(n)))) }

func paramCount(params []*gorgonia.Node) int {
	n := 0
	for _, p := range params {
		n += p.Shape().TotalSize()
	}
	return n
}
