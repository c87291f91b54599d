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
			return run(o)
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
	f.StringVar(&o.draw.Sampler, "sampler", "", "with --ckpt, em or pc (default: the checkpoint's sample.sampler)")
	f.Uint64Var(&o.draw.Seed, "seed", 1, "with --ckpt, seed of the sampler's noise")
	f.BoolVar(&o.draw.NoEMA, "no-ema", false, "with --ckpt, use the raw weights instead of their moving average")
	f.StringVar(&o.draw.Device, "device", "", "cpu or cuda for the sampler and the likelihood (default: the checkpoint's); the judge runs on the CPU")
	f.StringVar(&o.draw.NPY, "npy", "", "with --ckpt, keep the drawn samples in this .npy (default: a temporary file)")
	f.BoolVar(&o.bpd, "bpd", false, "with --ckpt, score the test set's likelihood (a VAE's negative ELBO and IWAE bound, nats and bits/dim) instead of samples")
	f.IntVar(&o.limit, "limit", 0, "with --bpd, score only the first N test images (default: all)")
	if err := cmd.Execute(); err != nil {
		os.Exit(1)
	}
}

func run(o options) error {
	switch {
	case (o.samples == "") == (o.draw.Ckpt == ""):
		return errors.New("give one of --samples FILE.npy or --ckpt DIR")
	case o.bpd && o.draw.Ckpt == "":
		return errors.New("--bpd scores a checkpoint: give --ckpt DIR")
	case o.limit != 0 && !o.bpd:
		return errors.New("--limit counts test images for --bpd; samples are counted by --n")
	case o.bpd:
		return likelihood(o)
	}
	x, shape, err := samples(&o)
	if err != nil {
		return err
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
		return fmt.Errorf("%s: samples of shape %v, want %v, the images of %s", o.samples, shape[1:], want, test.Name)
	}
	if o.judge == "" {
		o.judge = filepath.Join("runs", o.dataName+"_classifier")
	}
	j, err := classify.OpenJudge(o.judge, "cpu")
	if err != nil {
		return fmt.Errorf("%w (train one with make eval-nets, or give --judge)", err)
	}
	defer j.Close()
	r, err := evaluate.Score(j, x, shape[0], test, train)
	if err != nil {
		return fmt.Errorf("%s: %w", o.samples, err)
	}
	if o.jsonOut {
		return json.NewEncoder(os.Stdout).Encode(struct {
			Samples string `json:"samples,omitempty"`
			Ckpt    string `json:"ckpt,omitempty"`
			N       int    `json:"n"`
			Data    string `json:"data"`
			Judge   string `json:"judge"`
			quality.Report
		}{o.kept, o.draw.Ckpt, shape[0], o.dataName, j.Checkpoint(), r})
	}
	from := o.kept
	if o.draw.Ckpt != "" {
		from = o.draw.Ckpt
	}
	fmt.Printf("%s: %d samples against the %s test set, judged by %s\n%v\n", from, shape[0], o.dataName, j.Checkpoint(), r)
	return nil
}

// samples reads --samples, or draws --n samples from --ckpt into --npy (a
// temporary file when not given), and sets o.dataName to the checkpoint's
// data set when it is one.
func samples(o *options) (x []float32, shape []int, err error) {
	if o.draw.Ckpt != "" {
		c, err := ckpt.Open(o.draw.Ckpt)
		if err != nil {
			return nil, nil, err
		}
		if o.dataName != "" && o.dataName != c.Config.Data.Name {
			return nil, nil, fmt.Errorf("--data %s: checkpoint %s was trained on %s", o.dataName, c.Path, c.Config.Data.Name)
		}
		o.dataName = c.Config.Data.Name
		if o.draw.Steps == 0 {
			o.draw.Steps = c.Config.Sample.Steps
		}
		if o.dataDir == "" {
			o.dataDir = c.Config.Data.Dir
		}
		o.kept = o.draw.NPY
		if o.draw.NPY == "" {
			dir, err := os.MkdirTemp("", "scoregen-eval-")
			if err != nil {
				return nil, nil, err
			}
			defer os.RemoveAll(dir)
			o.draw.NPY = filepath.Join(dir, "samples.npy")
		}
		o.draw.Family, o.draw.Resume = models.New, true
		o.draw.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := sample.Run(ctx, o.draw); err != nil {
			return nil, nil, err
		}
		o.samples = o.draw.NPY
	} else if o.dataName == "" {
		return nil, nil, errors.New("--samples: give --data, the data set the samples imitate (mnist or fashion)")
	} else {
		o.kept = o.samples
	}
	shape, x, err = grid.ReadNPY(o.samples)
	if err != nil {
		return nil, nil, err
	}
	if len(shape) != 4 {
		return nil, nil, fmt.Errorf("%s: an array of shape %v, want N x C x H x W samples", o.samples, shape)
	}
	return x, shape, nil
}

// likelihood prints the test-set bounds of --ckpt's model.
func likelihood(o options) error {
	c, err := ckpt.Open(o.draw.Ckpt)
	if err != nil {
		return err
	}
	cfg := c.Config
	if o.draw.Device != "" {
		cfg.Device = o.draw.Device
	}
	f, err := models.New(cfg)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", c.Path, err)
	}
	dir := cfg.Data.Dir
	if o.dataDir != "" {
		dir = o.dataDir
	}
	test, err := data.Load(cfg.Data.Name, dir, false)
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
