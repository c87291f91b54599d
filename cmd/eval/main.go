// Command eval scores a model by numbers: generated samples against the
// test set through the features of the project's judge network (a
// classifier trained by configs/mnist_classifier.yaml or
// fashion_classifier.yaml: make eval-nets), or a checkpoint's likelihood
// of the test set.
//
//	go run ./cmd/eval --samples samples.npy --data mnist
//	go run ./cmd/eval --ckpt runs/mnist_dcgan --n 2000
//	go run ./cmd/eval --ckpt runs/mnist_vae --bpd --limit 1000
//
// The judge's features are its own, not Inception's: its Fréchet
// distances compare models of this project with each other and with the
// floor printed beside them (the test set against the training set), not
// with FIDs published in papers.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/scoregen/scoregen/ckpt"
	"github.com/scoregen/scoregen/classify"
	"github.com/scoregen/scoregen/data"
	"github.com/scoregen/scoregen/evaluate"
	"github.com/scoregen/scoregen/grid"
	"github.com/scoregen/scoregen/model"
	"github.com/scoregen/scoregen/models"
	"github.com/scoregen/scoregen/quality"
	"github.com/scoregen/scoregen/sample"
)

// options are the command's flags.
type options struct {
	samples, dataName, judge, dataDir string
	kept                              string // the .npy the scored samples stay in ("" for a temporary one)
	jsonOut, bpd                      bool
	limit                             int
	draw                              sample.Options // --ckpt and how to sample it
}

func main() {
	var o options
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Score samples or a checkpoint: Fréchet distance, KID, confidence, class entropy, precision/recall; or test-set bits/dim",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SilenceUsage = true
			return run(o, cmd.Flags().Changed)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.samples, "samples", "", "a .npy of N x C x H x W float32 samples in [-1, 1] (cmd/sample --npy) to score")
	f.StringVar(&o.dataName, "data", "", "the data set the --samples imitate: mnist or fashion")
	f.StringVar(&o.dataDir, "data-dir", "", "folder of the data set (default: the cache, as data.dir)")
	f.StringVar(&o.judge, "judge", "", "the judge's run folder or checkpoint (default runs/DATA_classifier)")
	f.BoolVar(&o.jsonOut, "json", false, "print one JSON object instead of text")
	f.StringVar(&o.draw.Ckpt, "ckpt", "", "a run folder or checkpoint: sample it (--n, --sampler, --steps) and score the samples, or with --bpd score its likelihood")
	f.IntVar(&o.draw.N, "n", 1000, "with --ckpt, the number of samples to draw")
	f.IntVar(&o.draw.Batch, "batch", 0, "with --ckpt, images per sampling batch (default: the largest that fits)")
	f.IntVar(&o.draw.Steps, "steps", 0, "with --ckpt, sampler steps (score networks; default: the checkpoint's sample.steps)")
	f.StringVar(&o.draw.Sampler, "sampler", "", "with --ckpt, em, pc, ode, ode-euler, heun, ancestral, ddim or annealed-langevin, or consistency for a consistency model (default: the checkpoint's sample.sampler)")
	f.Float64Var(&o.draw.SNR, "snr", 0, "with --ckpt, signal-to-noise ratio of pc's Langevin corrector (default: the checkpoint's sample.snr)")
	f.Var(sample.Optional[float64]{P: &o.draw.Eta}, "eta", "ddim's noise, 0 (deterministic) to 1 (default: the checkpoint's sample.eta)")
	f.Var(sample.Optional[int]{P: &o.draw.Class}, "class", "a class-conditional model's class for every image, or -1: image i of --n gets class i*K/n (default: the checkpoint's sample.class)")
	f.Var(sample.Optional[float64]{P: &o.draw.Guidance}, "guidance", "classifier-free guidance w of a class-conditional model: (1 + w) s(x, t, class) - w s(x, t) (default: the checkpoint's sample.guidance)")
	f.IntVar(&o.draw.LangevinSteps, "langevin-steps", 0, "annealed-langevin's steps per noise level (default: the checkpoint's sample.langevin_steps)")
	f.Float64Var(&o.draw.StepLR, "step-lr", 0, "annealed-langevin's step size epsilon (default: the checkpoint's sample.step_lr)")
	f.Float64Var(&o.draw.RTol, "rtol", 0, "with --ckpt, RK45's relative tolerance for the ode sampler and --bpd (default: the checkpoint's sample.rtol)")
	f.Float64Var(&o.draw.ATol, "atol", 0, "with --ckpt, RK45's absolute tolerance for the ode sampler and --bpd (default: the checkpoint's sample.atol)")
	f.Uint64Var(&o.draw.Seed, "seed", 1, "with --ckpt, seed of the sampler's noise")
	f.BoolVar(&o.draw.NoEMA, "no-ema", false, "with --ckpt, use the raw weights instead of their moving average")
	f.StringVar(&o.draw.Device, "device", "", "cpu or cuda for the sampler and the likelihood (default: the checkpoint's); the judge runs on the CPU")
	f.StringVar(&o.draw.NPY, "npy", "", "with --ckpt, keep the drawn samples in this .npy (default: a temporary file)")
	f.BoolVar(&o.bpd, "bpd", false, "with --ckpt, score the test set's likelihood (a score network's by the probability-flow ODE, a VAE's negative ELBO and IWAE bound; nats and bits/dim) instead of samples")
	f.IntVar(&o.limit, "limit", 0, "with --bpd, score only the first N test images (default: all)")
	if err := cmd.Execute(); err != nil {
		os.Exit(1)
	}
}

// samplingFlags are the flags that only drawing samples from --ckpt reads.
var samplingFlags = []string{"n", "batch", "steps", "sampler", "snr", "seed", "npy", "judge", "eta", "class", "guidance", "langevin-steps", "step-lr"}

func run(o options, given func(flag string) bool) error {
	switch {
	case (o.samples == "") == (o.draw.Ckpt == ""):
		return errors.New("give one of --samples FILE.npy or --ckpt DIR")
	case o.bpd && o.draw.Ckpt == "":
		return errors.New("--bpd scores a checkpoint: give --ckpt DIR")
	case o.limit != 0 && !o.bpd:
		return errors.New("--limit counts test images for --bpd; samples are counted by --n")
	}
	if o.bpd {
		for _, f := range samplingFlags {
			if given(f) {
				return fmt.Errorf("--%s is for scoring samples; --bpd scores the test set", f)
			}
		}
	}
	var c *ckpt.Checkpoint
	if o.draw.Ckpt != "" {
		var err error
		if c, err = fromCheckpoint(&o); err != nil {
			return err
		}
	} else if o.dataName == "" {
		return errors.New("--samples: give --data, the data set the samples imitate (mnist or fashion)")
	}
	if _, _, _, err := data.ImageShape(o.dataName); err != nil {
		return fmt.Errorf("--data: %w", err)
	}
	if o.bpd {
		return likelihood(o, c)
	}
	var x []float32
	var shape []int
	var err error
	if o.draw.Ckpt == "" {
		if x, shape, err = readSamples(o.samples); err != nil {
			return err
		}
	}
	if o.judge == "" {
		o.judge = filepath.Join("runs", o.dataName+"_classifier")
	}
	// The judge and the sample count are checked before any sampling,
	// which can take long.
	j, err := classify.OpenJudge(o.judge, "cpu")
	if err != nil {
		return fmt.Errorf("%w (train one with make eval-nets, or give --judge)", err)
	}
	defer j.Close()
	from := o.samples
	if o.draw.Ckpt != "" {
		from = o.draw.Ckpt
		if o.draw.N <= j.Dim() {
			return fmt.Errorf("--n %d: want more samples than the judge's %d features, which the Fréchet distance needs", o.draw.N, j.Dim())
		}
		done, err := draw(&o)
		defer done()
		if err != nil {
			return err
		}
		if x, shape, err = readSamples(o.samples); err != nil {
			return err
		}
	}
	test, err := data.Load(o.dataName, o.dataDir, false)
	if err != nil {
		return err
	}
	train, err := data.Load(o.dataName, o.dataDir, true)
	if err != nil {
		return err
	}
	if want := []int{test.C, test.H, test.W}; !slices.Equal(shape[1:], want) {
		return fmt.Errorf("%s: samples of shape %v, want %v, the images of %s", from, shape[1:], want, test.Name)
	}
	r, err := evaluate.Score(j, x, shape[0], test, train)
	if err != nil {
		return fmt.Errorf("%s: %w", from, err)
	}
	if o.jsonOut {
		return json.NewEncoder(os.Stdout).Encode(struct {
			Samples string       `json:"samples,omitempty"`
			Ckpt    string       `json:"ckpt,omitempty"`
			Sampled *sampledWith `json:"sampled,omitempty"`
			N       int          `json:"n"`
			Data    string       `json:"data"`
			Judge   string       `json:"judge"`
			quality.Report
		}{o.kept, o.draw.Ckpt, sampled(o, c), shape[0], o.dataName, j.Checkpoint(), r})
	}
	fmt.Printf("%s: %d samples against the %s test set, judged by %s\n%v\n", from, shape[0], o.dataName, j.Checkpoint(), r)
	return nil
}

// sampledWith is how --ckpt's samples were drawn, for --json: figures of
// one checkpoint differ by sampler, steps and seed.
type sampledWith struct {
	Sampler string  `json:"sampler"`
	Steps   int     `json:"steps"`
	SNR     float64 `json:"snr,omitempty"` // pc's corrector
	Seed    uint64  `json:"seed"`
	EMA     bool    `json:"ema"`
}

// sampled is how the samples of checkpoint c (nil: none) were drawn, the
// flags over its config.
func sampled(o options, c *ckpt.Checkpoint) *sampledWith {
	if c == nil {
		return nil
	}
	w := &sampledWith{Sampler: cmp.Or(o.draw.Sampler, c.Config.Sample.Sampler), Steps: o.draw.Steps, Seed: o.draw.Seed, EMA: !o.draw.NoEMA}
	if w.Sampler == "pc" {
		w.SNR = cmp.Or(o.draw.SNR, c.Config.Sample.SNR)
	}
	return w
}

// readSamples reads a .npy of N x C x H x W samples.
func readSamples(path string) (x []float32, shape []int, err error) {
	shape, x, err = grid.ReadNPY(path)
	if err != nil {
		return nil, nil, err
	}
	if len(shape) != 4 {
		return nil, nil, fmt.Errorf("%s: an array of shape %v, want N x C x H x W samples", path, shape)
	}
	return x, shape, nil
}

// fromCheckpoint takes from --ckpt's config what the flags leave open: the
// data set (refusing another --data), its folder and the sampler's steps;
// it returns the checkpoint.
func fromCheckpoint(o *options) (*ckpt.Checkpoint, error) {
	c, err := ckpt.Open(o.draw.Ckpt)
	if err != nil {
		return nil, err
	}
	if o.dataName != "" && o.dataName != c.Config.Data.Name {
		return nil, fmt.Errorf("--data %s: checkpoint %s was trained on %s", o.dataName, c.Path, c.Config.Data.Name)
	}
	o.dataName = c.Config.Data.Name
	if o.dataDir == "" {
		o.dataDir = c.Config.Data.Dir
	}
	if o.draw.Steps == 0 {
		o.draw.Steps = c.Config.Sample.Steps
	}
	return c, nil
}

// draw samples --n images from --ckpt into --npy, or a temporary file
// that done removes, and points o.samples at it.
func draw(o *options) (done func(), err error) {
	done, o.kept = func() {}, o.draw.NPY
	if o.draw.NPY == "" {
		dir, err := os.MkdirTemp("", "scoregen-eval-")
		if err != nil {
			return done, err
		}
		done = func() { os.RemoveAll(dir) }
		o.draw.NPY = filepath.Join(dir, "samples.npy")
	}
	o.draw.Family, o.draw.Resume = models.New, true
	o.draw.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := sample.Run(ctx, o.draw); err != nil {
		return done, fmt.Errorf("--ckpt %s: %w", o.draw.Ckpt, err)
	}
	o.samples = o.draw.NPY
	return done, nil
}

// likelihood prints the test-set bounds of the model of c, --ckpt's
// checkpoint.
func likelihood(o options, c *ckpt.Checkpoint) error {
	cfg := c.Config
	if o.draw.Device != "" {
		cfg.Device = o.draw.Device
	}
	if o.draw.RTol != 0 {
		cfg.Sample.RTol = o.draw.RTol
	}
	if o.draw.ATol != 0 {
		cfg.Sample.ATol = o.draw.ATol
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("flags: %w", err)
	}
	f, err := models.New(cfg)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", c.Path, err)
	}
	test, err := data.Load(o.dataName, o.dataDir, false)
	if err != nil {
		return err
	}
	figures, err := evaluate.Likelihood(f, c.Weights, test, o.limit, model.SampleOptions{Device: cfg.Device, GPU: cfg.GPU, EMA: !o.draw.NoEMA, Sample: cfg.Sample})
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", c.Path, err)
	}
	n := test.N
	if o.limit > 0 {
		n = o.limit
	}
	if o.jsonOut {
		figures["images"] = float64(n)
		return json.NewEncoder(os.Stdout).Encode(figures)
	}
	fmt.Printf("%s: the first %d images of the %s test set\n", c.Path, n, test.Name)
	for _, k := range slices.Sorted(maps.Keys(figures)) {
		fmt.Printf("  %-22s %.4f\n", k, figures[k])
	}
	return nil
}
