package vae

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/data"
	"github.com/scoregen/scoregen/model"
)

// TestTrial trains the VAE of $VAE_TRIAL_CONFIG (configs/mnist_vae.yaml by
// default) on its real training set for $VAE_TRIAL_MINUTES minutes (or
// train.steps, whichever ends first) and logs the losses and the test-set
// bounds of the raw weights on the first $VAE_TRIAL_TEST images (all by
// default): a manual check of quality and speed, skipped unless
// VAE_TRIAL_MINUTES is set. It needs the data set (data.Fetch).
func TestTrial(t *testing.T) {
	minutes, err := strconv.ParseFloat(os.Getenv("VAE_TRIAL_MINUTES"), 64)
	if err != nil {
		t.Skip("set VAE_TRIAL_MINUTES to run a training trial")
	}
	path := os.Getenv("VAE_TRIAL_CONFIG")
	if path == "" {
		path = "../configs/mnist_vae.yaml"
	}
	cfg, err := configs.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	train, err := data.Load(cfg.Data.Name, cfg.Data.Dir, true)
	if err != nil {
		t.Fatal(err)
	}
	test, err := data.Load(cfg.Data.Name, cfg.Data.Dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := strconv.Atoi(os.Getenv("VAE_TRIAL_TEST")); err == nil && n < test.N {
		d := test.C * test.H * test.W
		test.N, test.Pixels = n, test.Pixels[:n*d]
	}
	batch := cfg.Data.BatchSize
	loader, err := data.NewLoader(train, batch, cfg.Train.Seed, cfg.Data.Flip)
	if err != nil {
		t.Fatal(err)
	}
	defer loader.Close()
	tr := newTrainer(t, f, batch, cfg.Train.Seed)
	x := make([]float32, batch*train.C*train.H*train.W)
	start := time.Now()
	sum := map[string]float64{}
	for s := 0; s < cfg.Train.Steps && time.Since(start) < time.Duration(minutes*float64(time.Minute)); s++ {
		if err := loader.Next(x, nil); err != nil {
			t.Fatal(err)
		}
		for k, v := range tr.step(t, x) {
			sum[k] += v
		}
		if (s+1)%cfg.Train.LogEvery == 0 {
			n := float64(cfg.Train.LogEvery)
			t.Logf("step %d (%.0fs, %.0f images/s): nelbo %.2f recon %.2f kl %.2f", s+1, time.Since(start).Seconds(),
				float64((s+1)*batch)/time.Since(start).Seconds(), sum["nelbo"]/n, sum["recon"]/n, sum["kl"]/n)
			clear(sum)
		}
	}
	start = time.Now()
	r, err := f.Evaluate(tr.weights(), test, model.SampleOptions{Device: "cpu"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("test set of %d images, K = %d (%.0fs): %v", test.N, cfg.VAE.IWAEK, time.Since(start).Seconds(), r)
}
