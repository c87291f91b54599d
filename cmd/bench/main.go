// Command bench times one training step (forward and backward of the
// denoising loss) of a reference U-Net on random data and prints the median
// step time, images per second, achieved GFLOP/s and peak memory.
//
//	go run ./cmd/bench --model mnist --device cpu --batch 32 --steps 5 --json
//
// Every flag can also be set from the environment: BENCH_BATCH=128.
package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/train"
	"github.com/scoregen/scoregen/unet"
)

// Result is one line of output.
type Result struct {
	Model       string  `json:"model"`
	Device      string  `json:"device"`
	Batch       int     `json:"batch"`
	Steps       int     `json:"steps"`
	MedianStepS float64 `json:"median_step_s"`
	ImagesPerS  float64 `json:"images_per_s"`
	GflopPerS   float64 `json:"gflop_per_s"`
	PeakRSSMiB  float64 `json:"peak_rss_mib"`
	PlanMiB     float64 `json:"plan_mib"`
}

func main() {
	v := viper.New()
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Time a U-Net training step (forward and backward) on random data",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SilenceUsage = true
			return run(v)
		},
	}
	f := cmd.Flags()
	f.String("model", "mnist", "U-Net configuration: mnist or cifar10")
	f.String("device", "cpu", "device to run on: cpu")
	f.Int("batch", 32, "images per step")
	f.Int("steps", 5, "timed steps (after one warm-up step)")
	f.Bool("json", false, "print one JSON object per line instead of a table")
	f.String("cpuprofile", "", "write a CPU profile of the timed steps to this file")
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

func run(v *viper.Viper) error {
	cfg, err := unet.ByName(v.GetString("model"))
	if err != nil {
		return fmt.Errorf("--model: %w", err)
	}
	if d := v.GetString("device"); d != "cpu" {
		return fmt.Errorf("--device %q: this build runs on the cpu only", d)
	}
	batch, steps := v.GetInt("batch"), v.GetInt("steps")
	if batch < 1 || steps < 1 {
		return fmt.Errorf("--batch %d and --steps %d must be at least 1", batch, steps)
	}
	step, plan, err := buildStep(cfg, batch)
	if err != nil {
		return err
	}
	if err := step(); err != nil { // warm-up: page in buffers, start threads
		return err
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
	times := make([]float64, steps)
	for i := range times {
		start := time.Now()
		if err := step(); err != nil {
			return err
		}
		times[i] = time.Since(start).Seconds()
	}
	slices.Sort(times)
	med := times[len(times)/2]
	if len(times)%2 == 0 {
		med = (times[len(times)/2-1] + times[len(times)/2]) / 2
	}
	r := Result{
		Model: cfg.Name, Device: "cpu", Batch: batch, Steps: steps, MedianStepS: med,
		ImagesPerS: float64(batch) / med,
		GflopPerS:  3 * cfg.FlopsPerImage() * float64(batch) / med / 1e9,
		PeakRSSMiB: peakRSSMiB(),
		PlanMiB:    float64(plan.Bytes()) / (1 << 20),
	}
	if v.GetBool("json") {
		return json.NewEncoder(os.Stdout).Encode(r)
	}
	fmt.Printf("%-8s %-6s batch %4d: %.3f s/step (median of %d), %.2f images/s, %.1f GFLOP/s, peak RSS %.0f MiB (plan %.0f MiB)\n",
		r.Model, r.Device, r.Batch, r.MedianStepS, r.Steps, r.ImagesPerS, r.GflopPerS, r.PeakRSSMiB, r.PlanMiB)
	return nil
}

// buildStep compiles the reference training step's forward and backward
// pass: loss = mean over the batch of the squared error summed over pixels,
// between the predicted and the true noise; gradients for every parameter.
// The data are random and fixed; each call draws new dropout masks.
func buildStep(cfg unet.Config, batch int) (func() error, *engine.Plan, error) {
	g := gorgonia.NewGraph()
	net, err := unet.Build(g, cfg, batch, true, 1)
	if err != nil {
		return nil, nil, err
	}
	z := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(net.X.Shape()...), gorgonia.WithName("z"))
	loss, err := train.Loss(net.Out, z)
	if err != nil {
		return nil, nil, err
	}
	grads, err := gorgonia.Grad(loss, net.Params...)
	if err != nil {
		return nil, nil, fmt.Errorf("building the backward graph: %w", err)
	}
	plan, err := engine.Compile(append(gorgonia.Nodes{loss}, grads...), engine.NewCPU())
	if err != nil {
		return nil, nil, err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	normal := func(n int) []float32 {
		d := make([]float32, n)
		for i := range d {
			d[i] = float32(rng.NormFloat64())
		}
		return d
	}
	t := make([]float32, batch)
	for i := range t {
		t[i] = float32(1e-5 + (1-1e-5)*rng.Float64())
	}
	n := net.X.Shape().TotalSize()
	for _, w := range []struct {
		node *gorgonia.Node
		data []float32
	}{{net.X, normal(n)}, {z, normal(n)}, {net.T, t}} {
		if err := plan.Write(w.node, w.data); err != nil {
			return nil, nil, err
		}
	}
	return func() error {
		net.RNG.Step++
		return plan.Run()
	}, plan, nil
}

// peakRSSMiB is the process's peak resident set size.
func peakRSSMiB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024 // kilobytes on Linux
}
