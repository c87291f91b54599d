// Command bench times a full training step (train.TrainStep) of a model on
// random data, on the CPU and, in a binary built with `make gpu`, on the
// GPU, and prints the median step time, images per second, achieved
// GFLOP/s (for the U-Net) and memory. --model mnist or cifar10 is the
// reference U-Net (a batch, its noising, forward, backward, clipping, Adam
// and the EMA; with --sample-steps it also times sampling with --sampler,
// em by default, per network evaluation; with --likelihood the test-set
// likelihood's probability-flow ODE, per evaluation and per image);
// tiny, vae, dcgan and wgangp are configs/mnist_tiny.yaml (make train's
// small score network), mnist_vae.yaml, mnist_dcgan.yaml and
// mnist_wgangp.yaml (a step of a GAN is its n_critic critic updates, each
// on a batch, and one generator update).
//
//	go run ./cmd/bench --model mnist --device cpu --batch 32 --steps 5 --json
//	go run ./cmd/bench --model dcgan --device cpu --batch 64 --steps 10
//	bin/bench --model mnist --device cpu,cuda --batch 128 --steps 50 --sample-steps 1000
//	bin/bench --model mnist --likelihood 64
//
// Every flag can also be set from the environment: BENCH_BATCH=128.
package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"
	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/data"
	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/model"
	"github.com/scoregen/scoregen/models"
	"github.com/scoregen/scoregen/nn"
	"github.com/scoregen/scoregen/score"
	"github.com/scoregen/scoregen/train"
	"github.com/scoregen/scoregen/unet"
)

// Result is one line of output.
type Result struct {
	Kind        string `json:"kind"` // train, sample or likelihood
	Model       string `json:"model"`
	Device      string `json:"device"`
	Batch       int    `json:"batch"`
	Steps       int    `json:"steps"`
	SampleSteps int    `json:"sample_steps,omitempty"`
	Sampler     string `json:"sampler,omitempty"`
	// Evaluations are the network evaluations of the timed sampling run,
	// or the likelihood's per batch of images, each a forward and a
	// backward pass (with the initial weights: a trained network's
	// RK45 takes more).
	Evaluations int     `json:"evaluations,omitempty"`
	MedianStepS float64 `json:"median_step_s"`
	MeanStepS   float64 `json:"mean_step_s"`
	MinStepS    float64 `json:"min_step_s"`
	MaxStepS    float64 `json:"max_step_s"`
	ImagesPerS  float64 `json:"images_per_s"`
	GflopPerS   float64 `json:"gflop_per_s"`
	PeakRSSMiB  float64 `json:"peak_rss_mib"`
	// EstimateMiB is train's estimate of the memory the run takes before
	// it is allocated (host on the CPU, device on cuda), to set beside the
	// measured peak RSS or device peak.
	EstimateMiB   float64 `json:"estimate_mib"`
	PlanMiB       float64 `json:"plan_mib,omitempty"`
	DevicePeakMiB float64 `json:"device_peak_mib,omitempty"`
	GPUOverCPU    float64 `json:"gpu_over_cpu,omitempty"` // training images/s, cuda over cpu, when both ran
	// Ops is the --profile of a CPU step: each op family's time over
	// all the timed steps.
	Ops []engine.OpTime `json:"ops,omitempty"`
}

func main() {
	v := viper.New()
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Time a U-Net training step (and sampling) on random data",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SilenceUsage = true
			return run(v)
		},
	}
	f := cmd.Flags()
	f.String("model", "mnist", "mnist or cifar10 (the reference U-Net), tiny (make train's), vae, dcgan or wgangp (on MNIST)")
	f.String("device", "cpu", "devices to run on, comma-separated: cpu, cuda")
	f.Int("batch", 32, "images per training step")
	f.Int("steps", 5, "timed training steps (after warm-up steps)")
	f.Int("sample-steps", 0, "also time sampling with this many steps (0: do not)")
	f.String("sampler", "em", "the sampler to time: "+strings.Join(slices.Sorted(maps.Keys(configs.Samplers)), ", ")+" (ode chooses its own steps: with the untrained weights, fewer than a trained network's)")
	f.Int("sample-batch", 1024, "images per sampling batch")
	f.Int("likelihood", 0, "also time the bits/dim likelihood (probability-flow ODE, Hutchinson divergence) of this many random images (0: do not)")
	f.Bool("tf32", false, "let cuBLAS use TF32 tensor cores on the GPU")
	f.String("precision", "fp32", "fp32, or bf16 on the CPU (BF16 convolutions accumulating in FP32)")
	f.String("conv", nn.ConvOneDNN, "CPU convolution library: "+nn.ConvOneDNN+" or "+nn.ConvIm2col)
	f.Bool("json", false, "print one JSON object per line instead of a table")
	f.String("cpuprofile", "", "write a CPU profile of the timed steps to this file")
	f.Bool("profile", false, "print each op family's share of a CPU step's time, its GFLOP/s and its share of the FLOPs, beside the SGEMM peak measured in the same run")
	v.SetEnvPrefix("BENCH")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()
	if err := v.BindPFlags(f); err != nil {
		panic(err) // only if the flag set above is malformed
	}
	if err := cmd.Execute(); err != nil {
		os.Exit(1)
	}
}

// warmup is the untimed steps before timing: one pages in the CPU's
// buffers; on the GPU the first records the graph and the next few let the
// clocks settle.
var warmup = map[string]int{"cpu": 1, "cuda": 5}

// families are the --model names of the other families' experiments.
var families = map[string]string{"tiny": "mnist_tiny.yaml", "vae": "mnist_vae.yaml", "dcgan": "mnist_dcgan.yaml", "wgangp": "mnist_wgangp.yaml"}

func run(v *viper.Viper) error {
	name := v.GetString("model")
	netCfg, err := unet.ByName(name)
	if _, ok := families[name]; err != nil && !ok {
		return fmt.Errorf("--model %q: want mnist, cifar10, tiny, vae, dcgan or wgangp", name)
	}
	devices := strings.Split(v.GetString("device"), ",")
	for _, d := range devices {
		if _, ok := warmup[d]; !ok {
			return fmt.Errorf("--device %q: want cpu, cuda or both (cpu,cuda)", d)
		}
		// Training falls back to fp32 on cuda; a benchmark must not
		// time another precision than it says.
		if d == "cuda" && v.GetString("precision") == "bf16" {
			return fmt.Errorf("--precision bf16 is for the CPU; --device cuda runs in fp32 (--tf32 speeds up its products)")
		}
	}
	batch, steps, sampleSteps, sampleBatch := v.GetInt("batch"), v.GetInt("steps"), v.GetInt("sample-steps"), v.GetInt("sample-batch")
	likelihood := v.GetInt("likelihood")
	if batch < 1 || steps < 1 || sampleSteps < 0 || sampleBatch < 1 || likelihood < 0 {
		return fmt.Errorf("--batch %d, --steps %d and --sample-batch %d must be at least 1, --sample-steps %d and --likelihood %d at least 0",
			batch, steps, sampleBatch, sampleSteps, likelihood)
	}
	if _, ok := configs.Samplers[v.GetString("sampler")]; !ok && sampleSteps > 0 {
		return fmt.Errorf("--sampler %q: want one of %s", v.GetString("sampler"), strings.Join(slices.Sorted(maps.Keys(configs.Samplers)), ", "))
	}
	if path := v.GetString("cpuprofile"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	if conv := v.GetString("conv"); conv != "" {
		if err := nn.UseConvLibrary(conv); err != nil {
			return fmt.Errorf("--conv: %w", err)
		}
	}
	profiling := v.GetBool("profile")
	if profiling {
		engine.StartProfile()
	}
	var results []Result
	trained := map[string]float64{}
	for _, dev := range devices {
		var r Result
		if file, ok := families[name]; ok {
			if sampleSteps > 0 {
				return fmt.Errorf("--sample-steps: only the reference U-Net (--model mnist or cifar10) is timed sampling")
			}
			if likelihood > 0 {
				return fmt.Errorf("--likelihood: only the reference U-Net (--model mnist or cifar10) is timed scoring the likelihood")
			}
			cfg, err := benchConfig(file, dev, batch, v)
			if err != nil {
				return err
			}
			if r, err = benchFamily(cfg, name, steps, warmup[dev]); err != nil {
				return fmt.Errorf("%s: %w", dev, err)
			}
			results = append(results, withProfile(r, profiling))
			continue
		}
		cfg, err := benchConfig(netCfg.Name+"_vp.yaml", dev, batch, v)
		if err != nil {
			return err
		}
		r, err = benchTrain(cfg, netCfg, steps, warmup[dev])
		if err != nil {
			return fmt.Errorf("%s: %w", dev, err)
		}
		trained[dev] = r.ImagesPerS
		if cpu, ok := trained["cpu"]; ok && dev == "cuda" {
			r.GPUOverCPU = r.ImagesPerS / cpu
		}
		results = append(results, withProfile(r, profiling))
		if sampleSteps > 0 {
			r, err := benchSample(cfg, netCfg, sampleBatch, sampleSteps, v.GetString("sampler"))
			if err != nil {
				return fmt.Errorf("%s sampling: %w", dev, err)
			}
			results = append(results, withProfile(r, profiling))
		}
		if likelihood > 0 {
			r, err := benchLikelihood(cfg, netCfg, likelihood)
			if err != nil {
				return fmt.Errorf("%s likelihood: %w", dev, err)
			}
			results = append(results, withProfile(r, profiling))
		}
	}
	for _, r := range results {
		if err := report(r, v.GetBool("json")); err != nil {
			return err
		}
	}
	if profiling && !v.GetBool("json") {
		printProfiles(results)
	}
	return nil
}

// withProfile is r with the op profile of its timed steps, when profiling
// a CPU run.
func withProfile(r Result, profiling bool) Result {
	if profiling && r.Device == "cpu" {
		r.Ops = engine.Profile()
	}
	return r
}

// benchConfig is the experiment file (for the U-Net, its VP experiment)
// with the bench's device, batch and precision, and checkpoints and
// sampling off.
func benchConfig(file, dev string, batch int, v *viper.Viper) (*configs.Config, error) {
	sets := []string{
		"device=" + dev, fmt.Sprintf("gpu.tf32=%v", v.GetBool("tf32")), fmt.Sprintf("data.batch_size=%d", batch),
		"train.sample_every=0", "train.out_dir=" + os.TempDir(),
	}
	if p := v.GetString("precision"); p != "" {
		sets = append(sets, "precision="+p)
	}
	return configs.Load(file, sets)
}

// benchFamily times the training step of a VAE or GAN experiment.
func benchFamily(cfg *configs.Config, name string, steps, warm int) (Result, error) {
	f, err := models.New(cfg)
	if err != nil {
		return Result{}, err
	}
	c, h, w := f.ImageShape()
	tr, err := train.New(f, cfg, randomData(cfg, 2*cfg.Data.BatchSize, c, h, w), train.Options{})
	if err != nil {
		return Result{}, err
	}
	defer tr.Close()
	images := 0
	st, err := timeSteps(steps, warm, func() error {
		stats, err := tr.TrainStep()
		images = stats.Images
		return err
	})
	if err != nil {
		return Result{}, err
	}
	plan, peak := tr.Memory()
	return Result{
		Kind: "train", Model: name, Device: cfg.Device, Batch: cfg.Data.BatchSize, Steps: steps,
		MedianStepS: st.median, MeanStepS: st.mean, MinStepS: st.min, MaxStepS: st.max, ImagesPerS: float64(images) / st.median, PeakRSSMiB: peakRSSMiB(), PlanMiB: mib(plan), DevicePeakMiB: mib(peak),
	}, nil
}

// randomData is a data set of n images of uniform random pixels of ch x
// h x w (for training, two batches).
func randomData(c *configs.Config, n, ch, h, w int) *data.Dataset {
	ds := &data.Dataset{Name: c.Data.Name, N: n, C: ch, H: h, W: w, Labels: make([]uint8, n)}
	ds.Pixels = make([]uint8, n*ds.C*ds.H*ds.W)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range ds.Pixels {
		ds.Pixels[i] = uint8(rng.IntN(256))
	}
	return ds
}

func benchTrain(cfg *configs.Config, netCfg unet.Config, steps, warm int) (Result, error) {
	est, err := score.TrainingMemory(netCfg, cfg)
	if err != nil {
		return Result{}, err
	}
	if err := est.Check("--batch"); err != nil {
		return Result{}, err
	}
	f, err := score.New(cfg)
	if err != nil {
		return Result{}, err
	}
	tr, err := train.New(f, cfg, randomData(cfg, 2*cfg.Data.BatchSize, netCfg.Channels, netCfg.Height, netCfg.Width), train.Options{})
	if err != nil {
		return Result{}, err
	}
	defer tr.Close()
	st, err := timeSteps(steps, warm, func() error { _, err := tr.TrainStep(); return err })
	if err != nil {
		return Result{}, err
	}
	plan, peak := tr.Memory()
	batch := cfg.Data.BatchSize
	return Result{
		Kind: "train", Model: netCfg.Name, Device: cfg.Device, Batch: batch, Steps: steps,
		MedianStepS: st.median, MeanStepS: st.mean, MinStepS: st.min, MaxStepS: st.max, ImagesPerS: float64(batch) / st.median,
		GflopPerS:  3 * netCfg.FlopsPerImage() * float64(batch) / st.median / 1e9, // backward = 2x forward
		PeakRSSMiB: peakRSSMiB(), PlanMiB: mib(plan), DevicePeakMiB: mib(peak), EstimateMiB: estimateMiB(est),
	}, nil
}

// benchSample times cfg's model sampling a batch with the sampler in
// `steps` steps (the weights are the initial ones: the time per network
// evaluation does not depend on them). One whole sampling run is timed,
// after a short one.
func benchSample(cfg *configs.Config, netCfg unet.Config, batch, steps int, sampler string) (Result, error) {
	cfg.Sample.Sampler = sampler
	if sdes := configs.Samplers[sampler]; len(sdes) > 0 && !slices.Contains(sdes, cfg.SDE.Type) {
		// The time per evaluation is the network's, whatever the SDE:
		// a sampler for another SDE (annealed-langevin) times on its own.
		cfg.SDE.Type = sdes[0]
		sampler += " on " + sdes[0]
	}
	if err := cfg.Validate(); err != nil {
		return Result{}, fmt.Errorf("--sampler: %w", err)
	}
	s, err := score.NewSDE(cfg.SDE)
	if err != nil {
		return Result{}, err
	}
	est, err := score.SamplingMemory(netCfg, batch, cfg.Device)
	if err != nil {
		return Result{}, err
	}
	if err := est.Check("--sample-batch"); err != nil {
		return Result{}, err
	}
	m, err := score.NewScoreModel(netCfg, s, batch, cfg.Device, cfg.GPU)
	if err != nil {
		return Result{}, err
	}
	defer m.Close()
	x := make([]float32, batch*m.Dim)
	m.Sample = cfg.Sample
	m.Sample.Steps = min(steps, 10)
	if err := m.SampleAt(0, x, nil); err != nil { // warm-up: records the graph
		return Result{}, err
	}
	m.Sample.Steps = steps
	engine.ResetProfile()
	before := m.Evaluations()
	start := time.Now()
	if err := m.SampleAt(0, x, nil); err != nil {
		return Result{}, err
	}
	total := time.Since(start).Seconds()
	evals := m.Evaluations() - before
	return Result{
		Kind: "sample", Model: netCfg.Name, Device: cfg.Device, Batch: batch, Steps: 1, SampleSteps: steps,
		Sampler: sampler, Evaluations: evals,
		MedianStepS: total / float64(evals), MeanStepS: total / float64(evals), ImagesPerS: float64(batch) / total,
		GflopPerS:  netCfg.FlopsPerImage() * float64(batch) * float64(evals) / total / 1e9,
		PeakRSSMiB: peakRSSMiB(), EstimateMiB: estimateMiB(est),
	}, nil
}

// benchLikelihood times cfg's model scoring the bits/dim of n random
// images as cmd/eval --bpd does (score.Family.Likelihood: RK45 on the
// probability-flow ODE with the Hutchinson divergence, in batches of up
// to score.LikelihoodBatch), with the network's initial weights. Those
// give a zero score (the last layer starts at zero), so RK45 takes few
// steps: the figure is the time per evaluation (a forward and a backward
// pass over a batch), which does not depend on the weights. A trained
// network's cost per image is that times the evaluations per batch that
// cmd/eval --bpd reports for it (mnist_tiny: about 340), over the batch.
func benchLikelihood(cfg *configs.Config, netCfg unet.Config, n int) (Result, error) {
	f, err := score.New(cfg)
	if err != nil {
		return Result{}, err
	}
	net, err := unet.Build(gorgonia.NewGraph(), netCfg, 1, false, 0)
	if err != nil {
		return Result{}, err
	}
	weights := map[string][]float32{}
	for _, p := range net.Params {
		weights[p.Name()] = p.Value().Data().([]float32)
	}
	w := model.Weights(func(name string) ([]float32, bool) { v, ok := weights[name]; return v, ok })
	test := randomData(cfg, n, netCfg.Channels, netCfg.Height, netCfg.Width)
	o := model.SampleOptions{Device: cfg.Device, GPU: cfg.GPU, Sample: cfg.Sample}
	engine.ResetProfile()
	fig, err := f.Likelihood(w, test, o)
	if err != nil {
		return Result{}, err
	}
	batch := min(n, score.LikelihoodBatch)
	batches := (n + batch - 1) / batch
	evals := fig["evaluations_per_batch"]
	total := fig["seconds_per_image"] * float64(n)
	perEval := total / (evals * float64(batches))
	return Result{
		Kind: "likelihood", Model: netCfg.Name, Device: cfg.Device, Batch: batch, Steps: batches,
		Sampler: "ode", Evaluations: int(math.Round(evals)),
		MedianStepS: perEval, MeanStepS: perEval, ImagesPerS: float64(n) / total,
		// The backward pass is to the input only, no weight gradients:
		// about one forward's FLOPs.
		GflopPerS:  2 * netCfg.FlopsPerImage() * float64(batch) / perEval / 1e9,
		PeakRSSMiB: peakRSSMiB(),
	}, nil
}

// stepTimes are the seconds that the timed steps took.
type stepTimes struct{ median, mean, min, max float64 }

// timeSteps runs step warm times, then times it `steps` times. The op
// profile, if on, counts only the timed steps.
func timeSteps(steps, warm int, step func() error) (stepTimes, error) {
	for range warm {
		if err := step(); err != nil {
			return stepTimes{}, err
		}
	}
	engine.ResetProfile()
	times := make([]float64, steps)
	for i := range times {
		start := time.Now()
		if err := step(); err != nil {
			return stepTimes{}, err
		}
		times[i] = time.Since(start).Seconds()
	}
	slices.Sort(times)
	med := times[steps/2]
	if steps%2 == 0 {
		med = (times[steps/2-1] + times[steps/2]) / 2
	}
	var sum float64
	for _, t := range times {
		sum += t
	}
	return stepTimes{med, sum / float64(steps), times[0], times[steps-1]}, nil
}

func report(r Result, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(os.Stdout).Encode(r)
	}
	what, unit := "train", "step"
	switch r.Kind {
	case "sample":
		what, unit = fmt.Sprintf("sample (%s, %d evals)", r.Sampler, r.Evaluations), "evaluation"
	case "likelihood":
		what, unit = fmt.Sprintf("likelihood (%d evals/batch)", r.Evaluations), "evaluation"
	}
	fmt.Printf("%-8s %-5s %-22s batch %4d: %.4f s/%s", r.Model, r.Device, what, r.Batch, r.MedianStepS, unit)
	if r.MaxStepS > 0 {
		fmt.Printf(" (%.4f-%.4f over %d)", r.MinStepS, r.MaxStepS, r.Steps)
	}
	fmt.Printf(", %8.2f images/s, %7.1f GFLOP/s, peak RSS %.0f MiB", r.ImagesPerS, r.GflopPerS, r.PeakRSSMiB)
	if r.Device == "cpu" && r.EstimateMiB > 0 {
		fmt.Printf(" (estimated %.0f MiB)", r.EstimateMiB)
	}
	if r.DevicePeakMiB > 0 {
		fmt.Printf(", GPU peak %.0f MiB (estimated %.0f MiB)", r.DevicePeakMiB, r.EstimateMiB)
	}
	if r.GPUOverCPU > 0 {
		fmt.Printf(", %.1fx the CPU", r.GPUOverCPU)
	}
	fmt.Println()
	return nil
}

// estimateMiB is the part of e to compare with what the run measures: the
// host's on the CPU, the device's on the GPU.
func estimateMiB(e score.Memory) float64 {
	if e.Device > 0 {
		return mib(e.Device)
	}
	return mib(e.Host)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// peakRSSMiB is the process's peak resident set size.
func peakRSSMiB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024 // kilobytes on Linux
}

// printProfiles prints, for each profiled result, where its step's time
// went: each op family's time per step and share of the step, its GFLOP/s
// and share of the step's counted FLOPs, against the highest SGEMM peak
// of the libraries in use, measured now.
func printProfiles(results []Result) {
	// The machine's limit is the fastest library's SGEMM.
	var peak float64
	fmt.Println()
	for _, p := range nn.PeakGEMM(2048, 5) {
		fmt.Printf("SGEMM peak of %s (2048^3 on %d cores, best of 5): %.1f GFLOP/s\n", p.Library, runtime.GOMAXPROCS(0), p.GFLOPs)
		peak = max(peak, p.GFLOPs)
	}
	for _, r := range results {
		if len(r.Ops) == 0 {
			continue
		}
		runs := float64(r.Steps)
		what := "training step"
		switch r.Kind {
		case "sample":
			runs, what = float64(r.Evaluations), "network evaluation ("+r.Sampler+")"
		case "likelihood":
			runs, what = float64(r.Evaluations*r.Steps), "likelihood evaluation (forward and backward)"
		}
		var opSeconds, flops float64
		for _, o := range r.Ops {
			opSeconds += o.Seconds
			flops += o.Flops
		}
		// Shares are of the mean step, which the kernels' times add up to.
		step := r.MeanStepS
		fmt.Printf("\n%s %s, batch %d: %.1f ms a step (mean; median %.1f), kernels %.1f ms\n", r.Model, what, r.Batch, 1e3*step, 1e3*r.MedianStepS, 1e3*opSeconds/runs)
		fmt.Printf("| op family | library | calls | ms/step | %% of step | GFLOP/s | %% of FLOPs | %% of peak |\n|---|---|---:|---:|---:|---:|---:|---:|\n")
		for _, o := range r.Ops {
			ms := 1e3 * o.Seconds / runs
			gf, share, ofPeak := "", "", ""
			if o.Flops > 0 {
				g := o.Flops / o.Seconds / 1e9
				gf, share, ofPeak = fmt.Sprintf("%.1f", g), fmt.Sprintf("%.1f", 100*o.Flops/flops), fmt.Sprintf("%.0f", 100*g/peak)
			}
			fmt.Printf("| %s | %s | %.0f | %.2f | %.1f | %s | %s | %s |\n", o.Family, o.Library, float64(o.Calls)/runs, ms, 100*ms/1e3/step, gf, share, ofPeak)
		}
		rest := step - opSeconds/runs
		fmt.Printf("| outside the plan (data, noising, optimiser, sampler update) | | | %.2f | %.1f | | | |\n", 1e3*rest, 100*rest/step)
		fmt.Printf("| all counted FLOPs | | | %.2f | %.1f | %.1f | 100 | %.0f |\n", 1e3*step, 100.0,
			flops/runs/step/1e9, 100*flops/runs/step/1e9/peak)
	}
}
