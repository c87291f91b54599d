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
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/data"
	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/grid"
	"github.com/scoregen/scoregen/nn"
	"github.com/scoregen/scoregen/sde"
	"github.com/scoregen/scoregen/unet"
)

// Options are how a run reports and starts.
type Options struct {
	Resume   bool         // continue from the newest checkpoint in train.out_dir
	Log      *slog.Logger // progress messages; nil discards them
	Progress io.Writer    // a terminal for the progress bar; nil for none
}

// Trainer holds one run's state: the compiled step, the optimiser, the EMA
// and the data stream.
type Trainer struct {
	cfg    *configs.Config
	net    *unet.Net
	netCfg unet.Config
	sde    sde.SDE
	plan   *engine.Plan
	loss   *gorgonia.Node
	loader *data.Loader

	params, grads [][]float32 // views of the plan's memory
	adam          *nn.Adam
	ema           *nn.EMA
	step          int

	x0, xt, z, t []float32 // xt, z and t are views of the plan's inputs
	log          *slog.Logger
	progress     io.Writer
}

// New builds the training step for cfg on ds, initialised from
// train.seed.
func New(cfg *configs.Config, ds *data.Dataset, opt Options) (*Trainer, error) {
	if cfg.Device != "cpu" {
		return nil, fmt.Errorf("device %q: this build trains on the cpu only", cfg.Device)
	}
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
	batch := cfg.Data.BatchSize
	g := gorgonia.NewGraph()
	net, err := unet.Build(g, netCfg, batch, true, cfg.Train.Seed)
	if err != nil {
		return nil, err
	}
	z := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(net.X.Shape()...), gorgonia.WithName("z"))
	loss, err := Loss(net.Out, z)
	if err != nil {
		return nil, err
	}
	gradNodes, err := gorgonia.Grad(loss, net.Params...)
	if err != nil {
		return nil, fmt.Errorf("building the backward graph: %w", err)
	}
	cpu := engine.NewCPU()
	plan, err := engine.Compile(append(gorgonia.Nodes{loss}, gradNodes...), cpu)
	if err != nil {
		return nil, err
	}
	view := func(n *gorgonia.Node) []float32 {
		slot, _ := plan.Slot(n)
		return cpu.View(slot)
	}
	tr := &Trainer{cfg: cfg, net: net, netCfg: netCfg, sde: s, plan: plan, loss: loss,
		xt: view(net.X), z: view(z), t: view(net.T), x0: make([]float32, batch*netCfg.Channels*netCfg.Height*netCfg.Width),
		log: opt.Log, progress: opt.Progress}
	if tr.log == nil {
		tr.log = slog.New(slog.DiscardHandler)
	}
	for i, p := range net.Params {
		tr.params = append(tr.params, view(p))
		tr.grads = append(tr.grads, view(gradNodes[i]))
	}
	tr.adam = nn.NewAdam(tr.params, tr.grads, 0.9, 0.999, 1e-8)
	tr.ema = nn.NewEMA(tr.params, cfg.Train.EMA)
	if tr.loader, err = data.NewLoader(ds, batch, cfg.Train.Seed, cfg.Data.Flip); err != nil {
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

// Close stops the data stream.
func (tr *Trainer) Close() { tr.loader.Close() }

// Step is the number of steps done.
func (tr *Trainer) Step() int { return tr.step }

// Weights are the current parameters and their EMA, in parameter order.
func (tr *Trainer) Weights() (params, ema [][]float32) { return tr.params, tr.ema.Shadow }

// Stats are what one step reports.
type Stats struct {
	Step       int     `json:"step"`
	Loss       float64 `json:"loss"`
	GradNorm   float64 `json:"grad_norm"`
	LR         float64 `json:"lr"`
	ImagesPerS float64 `json:"images_per_s"`
}

// TrainStep runs one step: a batch, its noising, forward and backward,
// clipping, Adam and the EMA. A loss that is not finite is an error naming
// the step, and leaves the weights as they were before the step.
func (tr *Trainer) TrainStep() (Stats, error) {
	start := time.Now()
	if err := tr.loader.Next(tr.x0); err != nil {
		return Stats{}, err
	}
	batch := tr.cfg.Data.BatchSize
	// Each step's noise and dropout masks are keyed by (seed, step), so a
	// resumed run draws what the uninterrupted one would have.
	sde.Perturb(tr.sde, tr.x0, tr.xt, tr.z, tr.t, batch, tr.cfg.Train.Seed, uint64(tr.step), tr.cfg.SDE.Eps)
	tr.net.RNG.Step = uint64(tr.step)
	if err := tr.plan.Run(); err != nil {
		return Stats{}, err
	}
	var loss [1]float32
	if err := tr.plan.Read(tr.loss, loss[:]); err != nil {
		return Stats{}, err
	}
	norm := nn.GlobalNorm(tr.grads)
	if l := float64(loss[0]); math.IsNaN(l) || math.IsInf(l, 0) || math.IsNaN(norm) || math.IsInf(norm, 0) {
		return Stats{}, fmt.Errorf("step %d: loss %v, gradient norm %v: training diverged", tr.step+1, l, norm)
	}
	tr.step++
	lr := nn.WarmupLR(tr.cfg.Train.LR, tr.step, tr.cfg.Train.Warmup)
	tr.adam.Update(lr, nn.ClipScale(norm, tr.cfg.Train.GradClip))
	tr.ema.Update(tr.params)
	return Stats{Step: tr.step, Loss: float64(loss[0]), GradNorm: norm, LR: lr,
		ImagesPerS: float64(batch) / time.Since(start).Seconds()}, nil
}

// Run trains to train.steps, logging, checkpointing and sampling on the
// schedule of the config. When ctx is cancelled (Ctrl-C) it writes a
// checkpoint and returns nil.
func (tr *Trainer) Run(ctx context.Context) error {
	c := tr.cfg.Train
	if err := os.MkdirAll(c.OutDir, 0o755); err != nil {
		return err
	}
	metrics, err := os.OpenFile(filepath.Join(c.OutDir, "metrics.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer metrics.Close()
	bar := newProgress(tr.progress, tr.step, c.Steps)
	tr.log.Info("training", "model", tr.netCfg.Name, "params", numel(tr.params), "sde", tr.cfg.SDE.Type,
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
	m, err := NewScoreModel(tr.netCfg, tr.sde, n)
	if err != nil {
		return err
	}
	if err := m.SetWeights(tr.ema.Shadow); err != nil {
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

func numel(ts [][]float32) int {
	n := 0
	for _, t := range ts {
		n += len(t)
	}
	return n
}
