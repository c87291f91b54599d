package train

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/ckpt"
	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/data"
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
}

// LoadCheckpoint reads a checkpoint file, or the newest in a folder.
func LoadCheckpoint(path string) (*Checkpoint, error) {
	if fi, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	} else if fi.IsDir() {
		if path, _, err = ckpt.Latest(path); err != nil {
			return nil, err
		}
	}
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

// resume restores the newest checkpoint in train.out_dir: weights, EMA,
// Adam's moments and step, and the data stream's position.
func (tr *Trainer) resume() error {
	dir := tr.cfg.Train.OutDir
	c, err := LoadCheckpoint(dir)
	if err != nil {
		return fmt.Errorf("--resume: %w", err)
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
	return nil
}
