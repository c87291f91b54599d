package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/ckpt"
	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/data"
	"github.com/scoregen/scoregen/internal/atomicfile"
)

// checkpointFormat marks our checkpoints in their metadata, so that a
// foreign safetensors file is refused with a clear message.
const checkpointFormat = "scoregen-checkpoint/1"

// Tensor name prefixes: a parameter's own name holds its weights.
const (
	emaPrefix   = "ema."
	adamMPrefix = "adam.m."
	adamVPrefix = "adam.v."
)

// Save writes a checkpoint of the current step into train.out_dir (atomic;
// the oldest beyond train.keep are removed) and returns its path.
func (tr *Trainer) Save() (string, error) {
	st, err := tr.dev.state()
	if err != nil {
		return "", err
	}
	var ts []ckpt.Tensor
	for i, p := range tr.net.Params {
		name, shape := p.Name(), p.Shape()
		for _, t := range []struct {
			prefix string
			data   []float32
		}{{"", st.Params[i]}, {emaPrefix, st.EMA[i]}, {adamMPrefix, st.M[i]}, {adamVPrefix, st.V[i]}} {
			ts = append(ts, ckpt.Tensor{Name: t.prefix + name, Shape: shape, Data: t.data})
		}
	}
	pos, err := json.Marshal(tr.loader.Position())
	if err != nil {
		return "", err
	}
	meta := map[string]string{
		"format":        checkpointFormat,
		"config":        tr.cfg.YAML(),
		"step":          strconv.Itoa(tr.step),
		"adam_step":     strconv.Itoa(st.AdamStep),
		"ema_updates":   strconv.Itoa(st.EMAUpdates),
		"data_position": string(pos),
	}
	path := filepath.Join(tr.cfg.Train.OutDir, ckpt.Name(tr.step))
	if err := ckpt.Save(path, ts, meta); err != nil {
		return "", err
	}
	return path, ckpt.Prune(tr.cfg.Train.OutDir, tr.cfg.Train.Keep)
}

// Checkpoint is a loaded checkpoint: its config and tensors by name.
type Checkpoint struct {
	Path    string
	Config  *configs.Config
	Meta    map[string]string
	Tensors map[string]ckpt.Tensor
	// Skipped are the newer checkpoints of the folder that did not load,
	// newest first (only when a folder was loaded); callers warn about them.
	Skipped []BadCheckpoint
}

// BadCheckpoint is a checkpoint file that LoadCheckpoint passed over.
type BadCheckpoint struct {
	Path string
	Err  error // names Path and why; wraps ckpt.ErrCorrupt when the content is at fault
}

// LoadCheckpoint reads a checkpoint file, or the newest intact one in a
// folder: a newer one that does not load (truncated, damaged, unreadable)
// is listed in Skipped and left where it is. When none loads, the error
// names each; when there is none (path does not exist, or is a folder
// without checkpoints), it wraps ckpt.ErrNoCheckpoint.
func LoadCheckpoint(path string) (*Checkpoint, error) {
	fi, err := os.Stat(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if err == nil && !fi.IsDir() {
		return loadCheckpointFile(path)
	}
	paths, _, err := ckpt.Newest(path) // a missing path is a folder with none
	if err != nil {
		return nil, err
	}
	var skipped []BadCheckpoint
	var errs []error
	for _, p := range paths {
		c, err := loadCheckpointFile(p)
		if err == nil {
			c.Skipped = skipped
			return c, nil
		}
		skipped = append(skipped, BadCheckpoint{Path: p, Err: err})
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("no intact checkpoint in %s: %w", path, errors.Join(errs...))
}

// loadCheckpointFile reads and checks one checkpoint file.
func loadCheckpointFile(path string) (*Checkpoint, error) {
	ts, meta, err := ckpt.Load(path)
	if err != nil {
		return nil, err
	}
	if meta["format"] != checkpointFormat {
		return nil, fmt.Errorf("checkpoint %s: not a scoregen checkpoint (metadata format %q, want %q)", path, meta["format"], checkpointFormat)
	}
	cfg, err := configs.Parse(meta["config"], path+" (metadata)")
	if err != nil {
		return nil, err
	}
	c := &Checkpoint{Path: path, Config: cfg, Meta: meta, Tensors: map[string]ckpt.Tensor{}}
	for _, t := range ts {
		c.Tensors[t.Name] = t
	}
	return c, nil
}

// Weights returns, for each parameter, the tensor named prefix + its name,
// checking its size against the parameter's.
func (c *Checkpoint) Weights(prefix string, params []*gorgonia.Node) ([][]float32, error) {
	out := make([][]float32, len(params))
	for i, p := range params {
		name, want := prefix+p.Name(), p.Shape().TotalSize()
		t, ok := c.Tensors[name]
		if !ok {
			return nil, fmt.Errorf("checkpoint %s: no tensor %q", c.Path, name)
		}
		if len(t.Data) != want {
			return nil, fmt.Errorf("checkpoint %s: tensor %q has %d values, the model needs %d", c.Path, name, len(t.Data), want)
		}
		out[i] = t.Data
	}
	return out, nil
}

func (c *Checkpoint) metaInt(key string) (int, error) {
	v, err := strconv.Atoi(c.Meta[key])
	if err != nil {
		return 0, fmt.Errorf("checkpoint %s: metadata %q = %q is not an integer", c.Path, key, c.Meta[key])
	}
	return v, nil
}

// resume restores the newest intact checkpoint in train.out_dir: weights,
// EMA, Adam's moments and step, and the data stream's position. With no
// checkpoint there (a run killed before its first save) it starts from
// step 0. Either way metrics.jsonl is cut back to the step resumed from.
func (tr *Trainer) resume() error {
	dir := tr.cfg.Train.OutDir
	c, err := LoadCheckpoint(dir)
	if errors.Is(err, ckpt.ErrNoCheckpoint) {
		tr.log.Info("--resume: no checkpoint yet, starting from step 0", "out_dir", dir)
		return tr.trimMetrics()
	}
	if err != nil {
		return fmt.Errorf("--resume: %w", err)
	}
	for _, b := range c.Skipped {
		tr.log.Warn("--resume: skipping a checkpoint that does not load", "path", b.Path, "err", b.Err)
		tr.moveAside(b)
	}
	if a, b := c.Config.Model, tr.cfg.Model; fmt.Sprint(a) != fmt.Sprint(b) {
		return fmt.Errorf("--resume: checkpoint %s has model %+v, the config asks for %+v", c.Path, a, b)
	}
	if a, b := c.Config.SDE, tr.cfg.SDE; a != b {
		return fmt.Errorf("--resume: checkpoint %s has sde %+v, the config asks for %+v", c.Path, a, b)
	}
	st := &optState{}
	for _, part := range []struct {
		prefix string
		dst    *[][]float32
	}{{"", &st.Params}, {emaPrefix, &st.EMA}, {adamMPrefix, &st.M}, {adamVPrefix, &st.V}} {
		if *part.dst, err = c.Weights(part.prefix, tr.net.Params); err != nil {
			return err
		}
	}
	if tr.step, err = c.metaInt("step"); err != nil {
		return err
	}
	if st.AdamStep, err = c.metaInt("adam_step"); err != nil {
		return err
	}
	if st.EMAUpdates, err = c.metaInt("ema_updates"); err != nil {
		return err
	}
	if err := tr.dev.setState(st); err != nil {
		return err
	}
	var pos data.Position
	if err := json.Unmarshal([]byte(c.Meta["data_position"]), &pos); err != nil {
		return fmt.Errorf("checkpoint %s: metadata data_position %q: %w", c.Path, c.Meta["data_position"], err)
	}
	if err := tr.loader.Seek(pos); err != nil {
		return fmt.Errorf("checkpoint %s: %w", c.Path, err)
	}
	tr.log.Info("resumed", "path", c.Path, "step", tr.step)
	return tr.trimMetrics()
}

// corruptSuffix is added to the name of a corrupt checkpoint that resume
// passed over, so that neither the save of the same step (which would
// replace it) nor Prune (which would count it as one to keep) touches it.
const corruptSuffix = ".corrupt"

// moveAside renames a checkpoint whose content is corrupt out of the run's
// list of checkpoints; one that could not be read at all stays put.
func (tr *Trainer) moveAside(b BadCheckpoint) {
	if !errors.Is(b.Err, ckpt.ErrCorrupt) {
		return
	}
	if err := os.Rename(b.Path, b.Path+corruptSuffix); err != nil {
		tr.log.Warn("--resume: could not move the corrupt checkpoint aside", "path", b.Path, "err", err)
		return
	}
	tr.log.Warn("--resume: corrupt checkpoint kept as "+filepath.Base(b.Path+corruptSuffix), "path", b.Path+corruptSuffix)
}

// trimMetrics drops the lines of metrics.jsonl past the step the run
// resumes from, which the run is about to write again, and a last line
// that a kill cut short. Lines it cannot read as a step are kept.
func (tr *Trainer) trimMetrics() error {
	path := filepath.Join(tr.cfg.Train.OutDir, metricsFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("--resume: %w", err)
	}
	var kept []byte
	dropped := 0
	for line := range strings.Lines(string(b)) {
		var st struct{ Step *int }
		torn := !strings.HasSuffix(line, "\n")
		if torn || json.Unmarshal([]byte(line), &st) == nil && st.Step != nil && *st.Step > tr.step {
			dropped++
			continue
		}
		kept = append(kept, line...)
	}
	if dropped == 0 {
		return nil
	}
	err = atomicfile.Write(path, func(w io.Writer) error {
		_, err := w.Write(kept)
		return err
	})
	if err != nil {
		return fmt.Errorf("--resume: %w", err)
	}
	tr.log.Info("--resume: dropped the metrics past the step resumed from", "path", path, "lines", dropped, "step", tr.step)
	return nil
}
