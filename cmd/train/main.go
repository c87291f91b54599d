// Command train trains a model of any family (model.type unet, vae, gan,
// or classifier: the judge that scores samples) on an image data set as an
// experiment file describes (configs/), writing checkpoints, a metrics
// file and sample grids to train.out_dir. When a run reaches train.steps,
// a family that scores held-out data (the VAE's bounds, the classifier's
// accuracy) is evaluated on the test set, into eval.json. With
// train.eval_every, the judge (train.judge) scores train.eval_n samples
// every so many steps, into metrics.jsonl (cmd/plot draws them).
//
//	go run ./cmd/train --config configs/mnist_tiny.yaml --set train.steps=50 --set train.out_dir=DIR
//	go run ./cmd/train --config configs/mnist_vae.yaml
//
// Ctrl-C writes a checkpoint and exits 0; --resume continues from the
// newest intact checkpoint in train.out_dir (from step 0 when there is none).
package main

import (
	"context"
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
	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/data"
	"github.com/scoregen/scoregen/model"
	"github.com/scoregen/scoregen/models"
	"github.com/scoregen/scoregen/train"
)

func main() {
	var (
		configPath string
		sets       []string
		resume     bool
	)
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Train a score network, a VAE, a GAN or the judge classifier",
		Long: "Train the model.type of an experiment: a score network by denoising score matching\n" +
			"(Song et al. 2021), a VAE on the negative ELBO, a GAN, or a classifier (the judge\n" +
			"whose features score samples) on the cross-entropy of the labels.\n" +
			"Settings come from the embedded defaults, then --config, then SCOREGEN_* environment\n" +
			"variables (SCOREGEN_TRAIN_STEPS=100), then --set KEY=VALUE.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SilenceUsage = true
			cfg, err := configs.Load(configPath, sets)
			if err != nil {
				return err
			}
			return run(cfg, resume)
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "experiment file (e.g. configs/mnist_tiny.yaml); empty for the defaults")
	cmd.Flags().StringArrayVar(&sets, "set", nil, "override a config key, KEY=VALUE (repeatable), e.g. --set train.steps=100")
	cmd.Flags().BoolVar(&resume, "resume", false, "continue from the newest intact checkpoint in train.out_dir (step 0 if there is none)")
	if err := cmd.Execute(); err != nil {
		os.Exit(1)
	}
}

func run(cfg *configs.Config, resume bool) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ds, err := data.Load(cfg.Data.Name, cfg.Data.Dir, true)
	if err != nil {
		return err
	}
	opt := train.Options{Resume: resume, Log: log}
	if isTerminal(os.Stderr) {
		opt.Progress = os.Stderr
	}
	// The test set and the judge are loaded once, before any step, so that
	// a missing judge is found at the start rather than at the first
	// evaluation.
	var test *data.Dataset
	if cfg.Train.EvalEvery > 0 {
		dir := train.JudgeDir(cfg)
		j, err := classify.OpenJudge(dir, "cpu")
		if err != nil {
			return fmt.Errorf("train.judge: %w (make eval-nets trains runs/%s_classifier; or set train.judge, or train.eval_every=0)", err, cfg.Data.Name)
		}
		defer j.Close()
		if test, err = data.Load(cfg.Data.Name, cfg.Data.Dir, false); err != nil {
			return fmt.Errorf("train.eval_every: %w", err)
		}
		log.Info("scoring samples over training", "every", cfg.Train.EvalEvery, "n", cfg.Train.EvalN, "judge", j.Checkpoint())
		opt.Judge, opt.Test = j, test
	}
	f, err := models.New(cfg)
	if err != nil {
		return err
	}
	tr, err := train.New(f, cfg, ds, opt)
	if err != nil {
		return err
	}
	defer tr.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := tr.Run(ctx); err != nil {
		return fmt.Errorf("training stopped: %w (%s)", err, checkpointNote(cfg.Train.OutDir))
	}
	if _, ok := f.(model.Evaluator); !ok || tr.Step() < cfg.Train.Steps {
		return nil
	}
	if test == nil {
		if test, err = data.Load(cfg.Data.Name, cfg.Data.Dir, false); err != nil {
			return fmt.Errorf("evaluating on the test set: %w", err)
		}
	}
	figures, err := tr.Evaluate(test)
	if err != nil {
		return fmt.Errorf("evaluating on the test set: %w", err)
	}
	args := []any{"step", tr.Step(), "images", test.N, "file", filepath.Join(cfg.Train.OutDir, "eval.json")}
	for _, k := range slices.Sorted(maps.Keys(figures)) {
		args = append(args, k, figures[k])
	}
	log.Info("test set", args...)
	return nil
}

// checkpointNote says, after a failure, what a --resume would start from,
// having loaded and verified it.
func checkpointNote(dir string) string {
	c, err := ckpt.Open(dir)
	switch {
	case errors.Is(err, ckpt.ErrNoCheckpoint):
		return "no checkpoint was written in " + dir + "; --resume starts from step 0"
	case err != nil:
		return "no checkpoint in " + dir + " is intact: " + err.Error()
	case len(c.Skipped) > 0:
		return fmt.Sprintf("the newest intact checkpoint is %s, step %d; %d newer do not load", c.Path, c.Step, len(c.Skipped))
	}
	return fmt.Sprintf("the last checkpoint, %s, step %d, is intact", c.Path, c.Step)
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
