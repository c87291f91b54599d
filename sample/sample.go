// Package sample draws any number of images from a trained model of any
// family (its model.Sampler), in batches whose memory does not grow with
// the number of images: to a .npy file filled batch by batch and to PNG
// grids. Image i's noise depends only on the seed and i, so a run may be
// cut into shards on several machines and merged, and a killed run
// started again continues after its last complete batch.
package sample

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/scoregen/scoregen/ckpt"
	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/grid"
	"github.com/scoregen/scoregen/internal/sysmem"
	"github.com/scoregen/scoregen/model"
	"github.com/scoregen/scoregen/sde"
)

// Options are a sampling run's settings, as cmd/sample's flags give them.
type Options struct {
	Ckpt     string // checkpoint file or run folder
	N        int    // images in the whole run
	Batch    int    // images per batch; 0: the resumed run's, else the largest that fits (largestBatch)
	Steps    int    // 0: the checkpoint's sample.steps
	Seed     uint64
	Sampler  string  // "": the checkpoint's sample.sampler
	SNR, Eps float64 // 0: the checkpoint's
	RTol     float64 // ode's tolerances; 0: the checkpoint's
	ATol     float64
	Eta      *float64 // ddim's; nil: the checkpoint's
	// Class and Guidance are a class-conditional model's sample.class and
	// sample.guidance; nil: the checkpoint's.
	Class    *int
	Guidance *float64
	// LangevinSteps and StepLR are annealed-langevin's; 0: the checkpoint's.
	LangevinSteps int
	StepLR        float64
	NoEMA         bool
	Device        string // "": the checkpoint's
	Shard         Shard  // zero: the whole run
	NPY           string // the .npy to fill ("": none, and no resume)
	Out           string // PNG grid ("": none)
	GridEvery     int    // > 0: one grid per this many images, named after Out
	Resume        bool   // continue the run recorded next to NPY if its arguments match
	Progress      io.Writer
	Log           *slog.Logger
	// Family is the family of a checkpoint's config (models.New).
	Family func(*configs.Config) (model.Family, error)
}

// Run samples images [first, end) of the run that Range gives for o.Shard:
// batch by batch into o.NPY, whose sidecar records the arguments and, after
// each batch, the images complete, and into the grids. A batch is padded
// at the run's end to the batch size with the images that follow (and
// those dropped), so that the pc sampler's batches, whose corrector
// averages over them, are the same whatever the shards; with em an image
// does not depend on the batch at all. If o.Resume and the sidecar's
// arguments match, it continues after the images done; if they differ it
// is an error naming the key, and without o.Resume it starts over.
// Cancelling ctx stops after the current batch.
func Run(ctx context.Context, o Options) error {
	if o.N < 1 || o.Steps < 0 || o.Batch < 0 || o.GridEvery < 0 {
		return fmt.Errorf("--n %d must be at least 1, --steps %d, --batch %d and --grid-every %d at least 0", o.N, o.Steps, o.Batch, o.GridEvery)
	}
	if o.Family == nil {
		return errors.New("sample: Options.Family is not set")
	}
	if o.NPY == "" && o.Out == "" {
		return errors.New("nothing to write: give --out, --npy or both")
	}
	if o.Shard.N == 0 {
		o.Shard = Shard{0, 1}
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c, err := ckpt.Open(o.Ckpt)
	if err != nil {
		return err
	}
	for _, b := range c.Skipped {
		log.Warn("skipping a checkpoint that does not load", "path", b.Path, "err", b.Err)
	}
	cfg := c.Config
	sc, err := o.settings(cfg, c.Path)
	if err != nil {
		return err
	}
	cfg.Sample = sc
	fromCkpt := o.Device == ""
	if !fromCkpt {
		cfg.Device = o.Device
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("flags: %w", err)
	}
	fam, err := o.Family(cfg)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", c.Path, err)
	}
	if fam.Type() != "unet" && (o.Sampler != "" || o.SNR != 0 || o.Eps != 0 || o.RTol != 0 || o.ATol != 0 || o.Eta != nil || o.LangevinSteps != 0 || o.StepLR != 0) {
		return fmt.Errorf("--sampler, --snr, --eps, --rtol, --atol, --eta, --langevin-steps and --step-lr set a score network's sampler; checkpoint %s is of model.type %s", c.Path, fam.Type())
	}
	var prev *Sidecar // the run recorded next to o.NPY, if resuming
	if o.NPY != "" && o.Resume {
		if prev, err = readSidecar(o.NPY); err != nil {
			return fmt.Errorf("%w (--resume=false starts over)", err)
		}
	}
	fits := func(int) error { return nil }
	if ch, ok := fam.(model.SamplingChecker); ok {
		fits = func(b int) error { return ch.CheckSampling(b, cfg.Device, "--batch") }
	}
	batch := min(o.Batch, o.N)
	switch {
	case batch > 0:
	case prev != nil:
		// The recorded run's, however much memory is free now; should the
		// sidecar record another run, openOutput names what differs.
		batch = prev.Batch
	default:
		if batch, err = largestBatch(o.N, fits); err != nil {
			return err
		}
	}
	first, end, err := Range(o.N, batch, o.Shard)
	if err != nil {
		return err
	}
	// Sizes are checked before anything big is allocated: the noise's
	// range, the network's batch, the grid held in memory, the .npy on disk.
	ch, h, w := fam.ImageShape()
	shape := []int{ch, h, w}
	dim := imageSize(shape)
	if _, err := sde.NoiseOffset((o.N-1)/batch*batch, batch, dim); err != nil {
		return fmt.Errorf("--n %d: at most %d images of %d values under one seed, where the noise would repeat: lower --n, or sample the rest with another --seed",
			o.N, sde.MaxElements/dim/batch*batch, dim)
	}
	if err := fits(batch); err != nil {
		return err
	}
	if err := checkOutputs(o, end-first, shape); err != nil {
		return err
	}
	var used [][]float32 // the tensors the sampler took, each once, in its order
	taken := map[string]bool{}
	weights := func(name string) ([]float32, bool) {
		v, ok := c.Weights(name)
		if ok && !taken[name] {
			used, taken[name] = append(used, v), true
		}
		return v, ok
	}
	m, err := fam.NewSampler(weights, batch, model.SampleOptions{Device: cfg.Device, GPU: cfg.GPU, EMA: !o.NoEMA, Sample: sc})
	if err != nil {
		if cfg.Device == "cuda" && fromCkpt {
			err = fmt.Errorf("%w (the checkpoint was trained on cuda; --device cpu samples on the CPU)", err)
		}
		return fmt.Errorf("checkpoint %s: %w", c.Path, err)
	}
	defer m.Close()
	args := Args{
		Weights: fingerprint(used), Step: strconv.Itoa(c.Step), EMA: !o.NoEMA, Device: cfg.Device,
		Sampler: sc.Sampler, Steps: sc.Steps, SNR: sc.SNR, Eps: sc.Eps, RTol: sc.RTol, ATol: sc.ATol,
		Eta: sc.Eta, LangevinSteps: sc.LangevinSteps, StepLR: sc.StepLR, Seed: sc.Seed,
		N: o.N, Batch: batch, Shard: o.Shard.String(), Shape: shape,
	}
	if cfg.Model.NumClasses > 0 {
		args.Class, args.Guidance = &sc.Class, &sc.Guidance
	}
	log.Info("sampling", "ckpt", c.Path, "step", args.Step, "images", fmt.Sprintf("%d-%d of %d", first, end-1, o.N),
		"batch", batch, "sampler", sc.Sampler, "steps", sc.Steps, "ema", args.EMA, "device", cfg.Device)

	side := &Sidecar{Args: args, First: first, End: end}
	var f *npyFile
	if o.NPY != "" {
		if f, err = openOutput(o.NPY, side, prev, o.Resume, log); err != nil {
			return err
		}
		defer f.close()
	}
	var gs *grids
	if o.Out != "" {
		gs = &grids{out: o.Out, every: o.GridEvery, shard: o.Shard, first: first, end: end, shape: args.Shape}
	}
	x := make([]float32, batch*dim)
	done := first + side.Done
	if gs != nil { // redraw the grid being filled from what the file holds
		for i := gs.replayFrom(done); i < done; i += batch {
			k := min(batch, done-i)
			if err := f.read(i-first, x[:k*dim]); err != nil {
				return err
			}
			if err := addAll(gs, i, x[:k*dim], dim); err != nil {
				return err
			}
		}
	}
	bar := newProgress(o.Progress, log, side.Done, end-first)
	for i := done; i < end; i += batch {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("stopped with %d of %d images done (the same command continues): %w", i-first, end-first, err)
		}
		if err := m.SampleAt(i, x, nil); err != nil {
			return fmt.Errorf("images %d-%d: %w", i, i+batch-1, err)
		}
		k := min(batch, end-i)
		if f != nil {
			if err := f.write(i-first, x[:k*dim]); err != nil {
				return fmt.Errorf("writing %s: %w", o.NPY, err)
			}
			side.Done = i + k - first
			if err := side.write(o.NPY); err != nil {
				return fmt.Errorf("writing %s: %w", sidecarPath(o.NPY), err)
			}
		}
		if gs != nil {
			if err := addAll(gs, i, x[:k*dim], dim); err != nil {
				return err
			}
		}
		bar.update(i + k - first)
	}
	if e, ok := m.(interface{ Evaluations() int }); ok && end > done {
		// The ode sampler's cost is its own to choose: report it.
		batches := (end - done + batch - 1) / batch
		log.Info("network evaluations", "total", e.Evaluations(), "per_batch", float64(e.Evaluations())/float64(batches))
	}
	log.Info("done", "images", end-first, "npy", o.NPY, "grids", o.Out)
	return nil
}

// maxBatch caps the batch that largestBatch chooses.
const maxBatch = 1024

// largestBatch is the batch of a run of n images when --batch is not given:
// the largest power of two up to min(n, maxBatch) that fits, or, if not
// even 1 does, fits's error for 1.
func largestBatch(n int, fits func(batch int) error) (int, error) {
	b := 1
	for 2*b <= min(n, maxBatch) {
		b *= 2
	}
	for ; ; b /= 2 {
		if err := fits(b); err == nil || b == 1 {
			return b, err
		}
	}
}

// availableMemory and freeDisk are the machine's memory available and a
// folder's free disk space in bytes (variables, for the tests).
var (
	availableMemory = sysmem.Available
	freeDisk        = func(dir string) (float64, error) {
		var st syscall.Statfs_t
		if err := syscall.Statfs(dir, &st); err != nil {
			return 0, err
		}
		return float64(st.Bavail) * float64(st.Bsize), nil
	}
)

// checkOutputs refuses a run whose grid (held in memory until written)
// does not fit in the memory available, or whose .npy of n images does not
// fit on its file system, saying which flag to change.
func checkOutputs(o Options, n int, shape []int) error {
	c, h, w := shape[0], shape[1], shape[2]
	if o.Out != "" {
		per := n
		if o.GridEvery > 0 {
			per = min(per, o.GridEvery)
		}
		need := grid.GridBytes(per, c, h, w, grid.Columns(per))
		avail, err := availableMemory()
		if err != nil {
			return err
		}
		if need > float64(avail) {
			return fmt.Errorf("a grid of %d images needs %.1f GiB of memory, this machine has %.1f GiB available: lower --grid-every, or give --out '' for no grid",
				per, need/(1<<30), float64(avail)/(1<<30))
		}
	}
	if o.NPY != "" {
		need := 4 * float64(n) * float64(imageSize(shape))
		if fi, err := os.Stat(o.NPY); err == nil {
			need -= float64(fi.Size()) // a run being resumed has its file already
		}
		free, err := freeDisk(filepath.Dir(o.NPY))
		if err != nil {
			return fmt.Errorf("--npy %s: %w", o.NPY, err)
		}
		if need > free {
			return fmt.Errorf("--npy %s: %d images need %.1f GiB more on disk, its file system has %.1f GiB free: lower --n, or split the run with --shard",
				o.NPY, n, need/(1<<30), free/(1<<30))
		}
	}
	return nil
}

// openOutput opens the .npy at path for the run that side describes, with
// side.Done set to the images it already holds: the recorded run's if
// resume and its sidecar, prev (nil: none), matches, else a new file. It
// first removes the temporary file that a kill while creating the .npy
// left. With resume, a .npy that no sidecar describes is not ours to
// overwrite: Run and Merge write the sidecar before the .npy, so they never
// leave one.
func openOutput(path string, side, prev *Sidecar, resume bool, log *slog.Logger) (*npyFile, error) {
	removed, err := removeNPYTemp(path)
	if err != nil {
		return nil, err
	}
	if removed {
		log.Info("removed a temporary file left by a killed run", "path", npyTemp(path))
	}
	if prev == nil && resume {
		if _, err := os.Stat(path); err == nil {
			return nil, fmt.Errorf("--npy %s exists and has no %s recording a run; --resume=false overwrites it", path, sidecarPath(path))
		}
	}
	if prev != nil && resume {
		if key, was, now := diff(prev.Args, side.Args); key != "" {
			return nil, fmt.Errorf("%s records another run: %s was %v, the arguments give %v (--resume=false starts over)",
				sidecarPath(path), key, was, now)
		}
		f, err := openNPY(path, side.End-side.First, side.Shape)
		if err == nil {
			side.Done = prev.Done
			log.Info("resuming", "npy", path, "done", prev.Done, "of", side.End-side.First)
			return f, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w (--resume=false starts over)", err)
		}
	}
	// The sidecar first: killed before the .npy exists, a restart finds a
	// matching record and no file, and starts afresh.
	side.Done = 0
	if err := side.write(path); err != nil {
		return nil, err
	}
	return createNPY(path, side.End-side.First, side.Shape)
}

// addAll draws the images in x, the first being image i, into gs.
func addAll(gs *grids, i int, x []float32, dim int) error {
	for j := 0; j < len(x); j += dim {
		if err := gs.add(i+j/dim, x[j:j+dim]); err != nil {
			return err
		}
	}
	return nil
}

// fingerprint identifies weights: FNV-1a of their bits.
func fingerprint(w [][]float32) string {
	h := fnv.New64a()
	var b [4]byte
	for _, t := range w {
		for _, v := range t {
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
			h.Write(b[:])
		}
	}
	return fmt.Sprintf("fnv1a64:%016x", h.Sum64())
}

// Optional is a flag's value (pflag.Value) that points P at the number
// given, and leaves it nil when the flag is not: for a setting whose zero
// is a value of its own (--eta 0, --class 0), unlike the flags whose 0
// means "the checkpoint's".
type Optional[T int | float64] struct{ P **T }

func (f Optional[T]) String() string {
	if f.P == nil || *f.P == nil {
		return ""
	}
	return fmt.Sprint(**f.P)
}

// Set parses the flag's number.
func (f Optional[T]) Set(s string) error {
	var v T
	switch p := any(&v).(type) {
	case *int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("want an integer: %w", err)
		}
		*p = n
	case *float64:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("want a number: %w", err)
		}
		*p = x
	}
	*f.P = &v
	return nil
}

// Type names the value in --help.
func (f Optional[T]) Type() string {
	var v T
	if _, ok := any(v).(int); ok {
		return "int"
	}
	return "float"
}

// settings is the checkpoint's sample section (cfg's, of the checkpoint at
// path) with o's flags over it, refusing a class or guidance that the
// model cannot take.
func (o Options) settings(cfg *configs.Config, path string) (configs.Sample, error) {
	sc := cfg.Sample
	sc.N, sc.Seed = o.N, o.Seed
	if o.Steps != 0 {
		sc.Steps = o.Steps
	}
	if o.Sampler != "" {
		sc.Sampler = o.Sampler
	}
	if o.SNR != 0 {
		sc.SNR = o.SNR
	}
	if o.Eps != 0 {
		sc.Eps = o.Eps
	}
	if o.RTol != 0 {
		sc.RTol = o.RTol
	}
	if o.ATol != 0 {
		sc.ATol = o.ATol
	}
	if o.Eta != nil {
		sc.Eta = *o.Eta
	}
	if o.Class != nil {
		sc.Class = *o.Class
	}
	if o.Guidance != nil {
		sc.Guidance = *o.Guidance
	}
	if k := cfg.Model.NumClasses; k == 0 && (o.Class != nil && *o.Class != -1 || o.Guidance != nil && *o.Guidance != 0) {
		return sc, fmt.Errorf("--class and --guidance are for a class-conditional model; checkpoint %s is unconditional (model.num_classes 0)", path)
	} else if o.Class != nil && (*o.Class < -1 || *o.Class >= k) {
		return sc, fmt.Errorf("--class %d: want -1 (by index) or 0 to %d (model.num_classes %d)", *o.Class, k-1, k)
	}
	if o.LangevinSteps != 0 {
		sc.LangevinSteps = o.LangevinSteps
	}
	if o.StepLR != 0 {
		sc.StepLR = o.StepLR
	}
	return sc, nil
}
