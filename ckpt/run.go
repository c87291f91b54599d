package ckpt

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"

	"github.com/scoregen/scoregen/configs"
)

// The formats of a training run's checkpoint, in the metadata's "format":
// version 1 held the score family only, with one parameter group's
// counters; version 2 names the family and holds every group's.
const (
	runFormat1 = "scoregen-checkpoint/1"
	runFormat  = "scoregen-checkpoint/2"
)

// Tensor name prefixes of a run's checkpoint: a parameter's own name holds
// its weights.
const (
	EMAPrefix   = "ema."
	AdamMPrefix = "adam.m."
	AdamVPrefix = "adam.v."
)

// Group is the counters of one parameter group's optimiser.
type Group struct {
	Name       string `json:"name"`
	AdamStep   int    `json:"adam_step"`
	EMAUpdates int    `json:"ema_updates"`
}

// RunMeta is what a run's checkpoint says besides its tensors.
type RunMeta struct {
	Family       string // model.type: unet, vae, gan or classifier
	Config       *configs.Config
	Step         int
	Groups       []Group
	DataPosition json.RawMessage // the data loader's position
}

// SaveRun writes a run's checkpoint to path (atomically, as Save).
func SaveRun(path string, tensors []Tensor, m RunMeta) error {
	groups, err := json.Marshal(m.Groups)
	if err != nil {
		return err
	}
	return Save(path, tensors, map[string]string{
		"format":        runFormat,
		"family":        m.Family,
		"config":        m.Config.YAML(),
		"step":          strconv.Itoa(m.Step),
		"groups":        string(groups),
		"data_position": string(m.DataPosition),
	})
}

// Checkpoint is a loaded run checkpoint: its metadata and tensors by name.
type Checkpoint struct {
	Path string
	RunMeta
	Tensors map[string]Tensor
	// Skipped are the newer checkpoints of the folder that did not load,
	// newest first (only when a folder was loaded); callers warn about them.
	Skipped []BadCheckpoint
}

// BadCheckpoint is a checkpoint file that Open passed over.
type BadCheckpoint struct {
	Path string
	Err  error // names Path and why; wraps ErrCorrupt when the content is at fault
}

// Open reads a run's checkpoint file, or the newest intact one in a folder:
// a newer one that does not load (truncated, damaged, unreadable) is
// listed in Skipped and left where it is. When none loads, the error names
// each; when there is none (path does not exist, or is a folder without
// checkpoints), it wraps ErrNoCheckpoint.
func Open(path string) (*Checkpoint, error) {
	fi, err := os.Stat(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if err == nil && !fi.IsDir() {
		return openFile(path)
	}
	paths, _, err := Newest(path) // a missing path is a folder with none
	if err != nil {
		return nil, err
	}
	var skipped []BadCheckpoint
	var errs []error
	for _, p := range paths {
		c, err := openFile(p)
		if err == nil {
			c.Skipped = skipped
			return c, nil
		}
		skipped = append(skipped, BadCheckpoint{Path: p, Err: err})
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("no intact checkpoint in %s: %w", path, errors.Join(errs...))
}

// openFile reads and checks one checkpoint file.
func openFile(path string) (*Checkpoint, error) {
	ts, meta, err := Load(path)
	if err != nil {
		return nil, err
	}
	c := &Checkpoint{Path: path, Tensors: map[string]Tensor{}}
	for _, t := range ts {
		c.Tensors[t.Name] = t
	}
	metaInt := func(key string) (int, error) {
		v, err := strconv.Atoi(meta[key])
		if err != nil {
			return 0, fmt.Errorf("checkpoint %s: metadata %q = %q is not an integer", path, key, meta[key])
		}
		return v, nil
	}
	switch meta["format"] {
	case runFormat:
		c.Family = meta["family"]
		if err := json.Unmarshal([]byte(meta["groups"]), &c.Groups); err != nil {
			return nil, fmt.Errorf("checkpoint %s: metadata groups %q: %w", path, meta["groups"], err)
		}
	case runFormat1:
		g := Group{Name: "net"}
		if g.AdamStep, err = metaInt("adam_step"); err != nil {
			return nil, err
		}
		if g.EMAUpdates, err = metaInt("ema_updates"); err != nil {
			return nil, err
		}
		c.Family, c.Groups = "unet", []Group{g}
	default:
		return nil, fmt.Errorf("checkpoint %s: not a scoregen checkpoint (metadata format %q, want %q)", path, meta["format"], runFormat)
	}
	if c.Config, err = configs.Parse(meta["config"], path+" (metadata)"); err != nil {
		return nil, err
	}
	if c.Config.Model.Type != c.Family {
		return nil, fmt.Errorf("checkpoint %s: metadata family %q, but its config has model.type %q", path, c.Family, c.Config.Model.Type)
	}
	if c.Step, err = metaInt("step"); err != nil {
		return nil, err
	}
	c.DataPosition = json.RawMessage(meta["data_position"])
	return c, nil
}

// Weights is the tensor named name, as model.Weights wants it.
func (c *Checkpoint) Weights(name string) ([]float32, bool) {
	t, ok := c.Tensors[name]
	return t.Data, ok
}

// Tensor is the tensor named name, checked to have size elements.
func (c *Checkpoint) Tensor(name string, size int) ([]float32, error) {
	t, ok := c.Tensors[name]
	if !ok {
		return nil, fmt.Errorf("checkpoint %s: no tensor %q", c.Path, name)
	}
	if len(t.Data) != size {
		return nil, fmt.Errorf("checkpoint %s: tensor %q has %d values, the model needs %d", c.Path, name, len(t.Data), size)
	}
	return t.Data, nil
}

// Group is the counters of the group named name.
func (c *Checkpoint) Group(name string) (Group, error) {
	for _, g := range c.Groups {
		if g.Name == name {
			return g, nil
		}
	}
	return Group{}, fmt.Errorf("checkpoint %s: no parameter group %q (it has %v)", c.Path, name, c.Groups)
}
