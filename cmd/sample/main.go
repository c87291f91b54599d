// Command sample draws images from a trained checkpoint of any family in
// batches and writes them as PNG grids and, if asked, the raw samples as a
// .npy file filled batch by batch; a run can be split into shards and
// merged, and a killed run continues when started again (package sample).
// The family comes from the checkpoint: a score network runs the SDE
// sampler, a VAE decodes z ~ N(0, I), a GAN's generator maps z ~ N(0, I).
// --recon N draws N test images above a VAE's reconstructions of them;
// --interpolate P draws P rows, each two test images with a score
// network's decodings of --points interpolations of their ODE latents
// between them; --inpaint MASK.png fills in the black of the mask in --n
// test images; --colorize colours the gray versions of --n test images.
//
//	go run ./cmd/sample --ckpt DIR --n 16 --steps 50 --seed 1 --out grid.png
//	go run ./cmd/sample --ckpt runs/mnist_vae --recon 16 --out recon.png
//	go run ./cmd/sample --ckpt runs/mnist_tiny --interpolate 4 --out interp.png
//	go run ./cmd/sample --ckpt DIR --n 50000 --batch 500 --npy x.npy --out '' --shard 0/2
//	go run ./cmd/sample merge --npy all.npy --out grid.png --grid-every 1000 x0.npy x1.npy
//
// Settings not given as flags come from the sample section of the config
// stored in the checkpoint.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/scoregen/scoregen/models"
	"github.com/scoregen/scoregen/sample"
)

func main() {
	var o sample.Options
	var shard string
	var recon, pairs, points int
	var inpaint string
	var colorize bool
	cmd := &cobra.Command{
		Use:   "sample",
		Short: "Sample images from a trained score network, VAE or GAN",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SilenceUsage = true
			var err error
			if o.Shard, err = sample.ParseShard(shard); err != nil {
				return err
			}
			modes := map[string]bool{"recon": recon > 0, "interpolate": pairs > 0, "inpaint": inpaint != "", "colorize": colorize}
			if err := oneGrid(modes, cmd.Flags().Changed); err != nil {
				return err
			}
			o.Family = models.New
			switch {
			case inpaint != "":
				return sample.Inpaint(o, inpaint, o.N)
			case colorize:
				return sample.Colorize(o, o.N)
			case pairs > 0:
				return sample.Interpolate(o, pairs, points)
			}
			return run(o, recon)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Ckpt, "ckpt", "", "checkpoint file, or a run folder (its newest checkpoint) (required)")
	f.StringVar(&o.Out, "out", "samples.png", "PNG grid of all the images (held in memory as 8-bit pixels; '' for none)")
	f.IntVar(&o.GridEvery, "grid-every", 0, "write one grid per this many images instead, named after --out (grid.png: grid-00000.png, ...; with --shard k/n, grid-00000.shardkofn.png)")
	f.StringVar(&o.NPY, "npy", "", "write the samples (N x C x H x W float32, in the data's range [-1, 1]) to this .npy as they come, with FILE.json recording the run")
	f.IntVar(&o.N, "n", 64, "number of images")
	f.IntVar(&o.Batch, "batch", 0, "images per batch (default: the largest power of two up to 1024 and --n that fits in memory; resuming, the recorded run's)")
	f.StringVar(&shard, "shard", "0/1", "k/n: sample the k-th of n contiguous ranges of the run's batches (merge the n .npy files with 'sample merge'); a shard's grids hold only its images and are named after it (grid.shardkofn.png), 'sample merge --out' writes the whole run's")
	f.BoolVar(&o.Resume, "resume", true, "continue the run recorded in --npy's FILE.json if its arguments match (false: start over)")
	f.IntVar(&recon, "recon", 0, "instead of sampling, write N test images (top row) above their reconstructions (bottom row) to --out (a VAE's checkpoint)")
	f.IntVar(&pairs, "interpolate", 0, "instead of sampling, write P rows to --out: test images 2i and 2i+1 with --points images between, decoded from spherical interpolations of their probability-flow ODE latents (a score network's checkpoint; --eps, --rtol, --atol)")
	f.StringVar(&inpaint, "inpaint", "", "instead of sampling, inpaint the first --n test images where the mask PNG (the images' size; white known, black unknown) is black, with --sampler em or pc, and write the originals, the masked inputs and the inpaintings as three rows to --out (a score network's checkpoint)")
	f.BoolVar(&colorize, "colorize", false, "instead of sampling, colour the gray versions (each pixel's channel mean) of the first --n test images with --sampler em or pc, and write the originals, the gray inputs and the colorisations as three rows to --out (a score network's checkpoint of colour images)")
	f.IntVar(&points, "points", 8, "with --interpolate, the interpolations per row (the first and last reconstruct the pair)")
	f.IntVar(&o.Steps, "steps", 0, "sampler steps (score networks; annealed-langevin: noise levels; ode chooses its own; a consistency model: 1 or 2, each one network evaluation) (default: the checkpoint's sample.steps)")
	f.Uint64Var(&o.Seed, "seed", 1, "seed of the sampler's noise")
	f.StringVar(&o.Sampler, "sampler", "", "em (Euler-Maruyama), pc (predictor-corrector with Langevin), ode (probability flow, adaptive RK45), ode-euler or heun (probability flow on Karras et al.'s steps), ancestral (VE, VP), ddim (VP) or annealed-langevin (VE); consistency, a consistency model's only one (default: the checkpoint's sample.sampler)")
	f.Var(sample.Optional[float64]{P: &o.Eta}, "eta", "ddim's noise, 0 (deterministic) to 1 (default: the checkpoint's sample.eta)")
	f.Var(sample.Optional[int]{P: &o.Class}, "class", "a class-conditional model's class for every image, or -1: image i of --n gets class i*K/n (default: the checkpoint's sample.class)")
	f.Var(sample.Optional[float64]{P: &o.Guidance}, "guidance", "classifier-free guidance w of a class-conditional model: (1 + w) s(x, t, class) - w s(x, t) (default: the checkpoint's sample.guidance)")
	f.IntVar(&o.LangevinSteps, "langevin-steps", 0, "annealed-langevin's steps per noise level (default: the checkpoint's sample.langevin_steps)")
	f.Float64Var(&o.StepLR, "step-lr", 0, "annealed-langevin's step size epsilon (default: the checkpoint's sample.step_lr)")
	f.Float64Var(&o.RTol, "rtol", 0, "relative tolerance of the ode sampler (default: the checkpoint's sample.rtol)")
	f.Float64Var(&o.ATol, "atol", 0, "absolute tolerance of the ode sampler (default: the checkpoint's sample.atol)")
	f.Float64Var(&o.SNR, "snr", 0, "signal-to-noise ratio of the Langevin corrector (pc) (default: the checkpoint's sample.snr)")
	f.Float64Var(&o.Eps, "eps", 0, "last diffusion time of the sampler (default: the checkpoint's sample.eps)")
	f.BoolVar(&o.NoEMA, "no-ema", false, "use the raw weights instead of their exponential moving average")
	f.StringVar(&o.Device, "device", "", "cpu or cuda (default: the checkpoint's device)")
	_ = cmd.MarkFlagRequired("ckpt")
	cmd.AddCommand(mergeCommand())
	if err := cmd.Execute(); err != nil {
		os.Exit(1)
	}
}

// run samples with o, drawing a progress bar on a terminal and logging
// otherwise; Ctrl-C stops after the current batch. With recon > 0 it
// writes the reconstruction grid instead.
// oneGrid refuses two of --recon, --interpolate, --inpaint and --colorize, and with one
// of them the flags that only sampling runs read.
func oneGrid(modes map[string]bool, given func(string) bool) error {
	var on []string
	for _, m := range slices.Sorted(maps.Keys(modes)) {
		if modes[m] {
			on = append(on, "--"+m)
		}
	}
	if len(on) > 1 {
		return fmt.Errorf("%s: give one of them", strings.Join(on, " and "))
	}
	if len(on) == 0 {
		return nil
	}
	for _, f := range []string{"npy", "batch", "shard", "grid-every", "resume"} {
		if given(f) {
			return fmt.Errorf("--%s is for sampling runs; %s writes one grid to --out", f, on[0])
		}
	}
	return nil
}

func run(o sample.Options, recon int) error {
	if recon > 0 {
		return sample.Recon(o, recon)
	}
	o.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	if isTerminal(os.Stderr) {
		o.Progress = os.Stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return sample.Run(ctx, o)
}

func mergeCommand() *cobra.Command {
	var npy, out string
	var every int
	cmd := &cobra.Command{
		Use:   "merge SHARD.npy...",
		Short: "Combine the .npy files of a sharded run into one, as the unsharded run writes it",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, shards []string) error {
			cmd.SilenceUsage = true
			return sample.Merge(npy, shards, out, every)
		},
	}
	cmd.Flags().StringVar(&npy, "npy", "", "the merged .npy to write (required)")
	cmd.Flags().StringVar(&out, "out", "", "also write the grids of all the images (as sample's --out)")
	cmd.Flags().IntVar(&every, "grid-every", 0, "one grid per this many images (as sample's --grid-every)")
	_ = cmd.MarkFlagRequired("npy")
	return cmd
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
