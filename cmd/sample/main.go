// Command sample draws images from a trained checkpoint and writes them as
// a PNG grid (and, if asked, the raw samples as a .npy file).
//
//	go run ./cmd/sample --ckpt DIR --n 16 --steps 50 --seed 1 --out grid.png
//
// Settings not given as flags come from the sample section of the config
// stored in the checkpoint.
package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/scoregen/scoregen/grid"
	"github.com/scoregen/scoregen/train"
)

type options struct {
	ckpt, out, npy, sampler string
	device                  string
	n, steps                int
	seed                    uint64
	snr, eps                float64
	noEMA                   bool
}

func main() {
	var o options
	cmd := &cobra.Command{
		Use:   "sample",
		Short: "Sample images from a trained score model",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SilenceUsage = true
			return run(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.ckpt, "ckpt", "", "checkpoint file, or a run folder (its newest checkpoint) (required)")
	f.StringVar(&o.out, "out", "samples.png", "PNG grid to write")
	f.StringVar(&o.npy, "npy", "", "also write the raw samples (N x C x H x W float32, in [-1, 1]) to this .npy file")
	f.IntVar(&o.n, "n", 64, "number of images")
	f.IntVar(&o.steps, "steps", 1000, "sampler steps")
	f.Uint64Var(&o.seed, "seed", 1, "seed of the sampler's noise")
	f.StringVar(&o.sampler, "sampler", "em", "em (Euler-Maruyama) or pc (predictor-corrector with Langevin)")
	f.Float64Var(&o.snr, "snr", 0.16, "signal-to-noise ratio of the Langevin corrector (pc)")
	f.Float64Var(&o.eps, "eps", 0, "last diffusion time of the sampler (default: the checkpoint's sample.eps)")
	f.BoolVar(&o.noEMA, "no-ema", false, "use the raw weights instead of their exponential moving average")
	f.StringVar(&o.device, "device", "", "cpu or cuda (default: the checkpoint's device)")
	_ = cmd.MarkFlagRequired("ckpt")
	if err := cmd.Execute(); err != nil {
		os.Exit(1)
	}
}

func run(cmd *cobra.Command, o options) error {
	if o.n < 1 || o.steps < 1 {
		return fmt.Errorf("--n %d and --steps %d must be at least 1", o.n, o.steps)
	}
	c, err := train.LoadCheckpoint(o.ckpt)
	if err != nil {
		return err
	}
	sc := c.Config.Sample
	sc.N, sc.Steps, sc.Seed = o.n, o.steps, o.seed
	if cmd.Flags().Changed("sampler") {
		sc.Sampler = o.sampler
	}
	if cmd.Flags().Changed("snr") {
		sc.SNR = o.snr
	}
	if cmd.Flags().Changed("eps") {
		sc.Eps = o.eps
	}
	c.Config.Sample = sc
	if o.device != "" {
		c.Config.Device = o.device
	}
	if err := c.Config.Validate(); err != nil {
		return fmt.Errorf("flags: %w", err)
	}
	netCfg, err := train.NetConfig(c.Config)
	if err != nil {
		return err
	}
	s, err := train.NewSDE(c.Config.SDE)
	if err != nil {
		return err
	}
	m, err := train.NewScoreModel(netCfg, s, o.n, c.Config.Device, c.Config.GPU)
	if err != nil {
		if c.Config.Device == "cuda" && !cmd.Flags().Changed("device") {
			err = fmt.Errorf("%w (the checkpoint was trained on cuda; --device cpu samples on the CPU)", err)
		}
		return err
	}
	defer m.Close()
	prefix := "ema."
	if o.noEMA {
		prefix = ""
	}
	w, err := c.Weights(prefix, m.Params())
	if err != nil {
		return err
	}
	if err := m.SetWeights(w); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	log.Info("sampling", "ckpt", c.Path, "step", c.Meta["step"], "n", o.n, "sampler", sc.Sampler, "steps", sc.Steps, "ema", !o.noEMA)
	x, err := m.Sample(sc, nil)
	if err != nil {
		return err
	}
	if err := grid.WritePNG(o.out, x, o.n, netCfg.Channels, netCfg.Height, netCfg.Width, train.GridColumns(o.n)); err != nil {
		return err
	}
	log.Info("grid written", "path", o.out)
	if o.npy != "" {
		if err := grid.WriteNPY(o.npy, x, []int{o.n, netCfg.Channels, netCfg.Height, netCfg.Width}); err != nil {
			return err
		}
		log.Info("samples written", "path", o.npy)
	}
	return nil
}
