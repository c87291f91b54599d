package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/scoregen/scoregen/ckpt"
	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/data"
	"github.com/scoregen/scoregen/internal/atomicfile"
)

// Save writes a checkpoint of the current step into train.out_dir (atomic;
// the oldest beyond train.keep are removed) and returns its path: every
// group's weights, EMA and Adam's moments, the state tensors, and in the
// metadata the family, the config, the groups' counters and the data
// position.
func (tr *Trainer) Save() (string, error) {
	st, err := tr.dev.state()
	if err != nil {
		return "", err
	}
	var ts []ckpt.Tensor
	var groups []ckpt.Group
	for g, group := range tr.c.tg.Groups {
		gs := st.Groups[g]
		for i, p := range group.Params {
			name, shape := p.Name(), p.Shape()
			parts := []struct {
				prefix string
				data   []float32
			}{{"", gs.Params[i]}, {ckpt.AdamMPrefix, gs.M[i]}, {ckpt.AdamVPrefix, gs.V[i]}}
			if gs.EMA != nil {
				parts = append(parts, struct {
					prefix string
					data   []float32
				}{ckpt.EMAPrefix, gs.EMA[i]})
			}
			for _, t := range parts {
				ts = append(ts, ckpt.Tensor{Name: t.prefix + name, Shape: shape, Data: t.data})
			}
		}
		groups = append(groups, ckpt.Group{Name: group.Name, AdamStep: gs.AdamStep, EMAUpdates: gs.EMAUpdates})
	}
	for i, s := range tr.c.tg.State {
		ts = append(ts, ckpt.Tensor{Name: s.Value.Name(), Shape: s.Value.Shape(), Data: st.State[i]})
	}
	pos, err := json.Marshal(tr.loader.Position())
	if err != nil {
		return "", err
	}
	path := filepath.Join(tr.cfg.Train.OutDir, ckpt.Name(tr.step))
	meta := ckpt.RunMeta{Family: tr.family.Type(), Config: tr.cfg, Step: tr.step, Groups: groups, DataPosition: pos}
	if err := ckpt.SaveRun(path, ts, meta); err != nil {
		return "", err
	}
	return path, ckpt.Prune(tr.cfg.Train.OutDir, tr.cfg.Train.Keep)
}

// resume restores the newest intact checkpoint in train.out_dir: weights,
// EMA, Adam's moments and counters of every group, the state tensors, the
// step and the data stream's position. With no checkpoint there (a run
// killed before its first save) it starts from step 0. Either way
// metrics.jsonl is cut back to the step resumed from.
func (tr *Trainer) resume() error {
	dir := tr.cfg.Train.OutDir
	c, err := ckpt.Open(dir)
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
	if err := sameModel(c, tr.cfg); err != nil {
		return fmt.Errorf("--resume: %w", err)
	}
	st := &runState{}
	for _, group := range tr.c.tg.Groups {
		counters, err := c.Group(group.Name)
		if err != nil {
			return err
		}
		gs := groupState{AdamStep: counters.AdamStep, EMAUpdates: counters.EMAUpdates}
		parts := []struct {
			prefix string
			dst    *[][]float32
		}{{"", &gs.Params}, {ckpt.AdamMPrefix, &gs.M}, {ckpt.AdamVPrefix, &gs.V}}
		if group.Optim.EMA > 0 {
			parts = append(parts, struct {
				prefix string
				dst    *[][]float32
			}{ckpt.EMAPrefix, &gs.EMA})
		}
		for _, part := range parts {
			for _, p := range group.Params {
				v, err := c.Tensor(part.prefix+p.Name(), p.Shape().TotalSize())
				if err != nil {
					return err
				}
				*part.dst = append(*part.dst, v)
			}
		}
		st.Groups = append(st.Groups, gs)
	}
	for _, s := range tr.c.tg.State {
		v, err := c.Tensor(s.Value.Name(), s.Value.Shape().TotalSize())
		if err != nil {
			return err
		}
		st.State = append(st.State, v)
	}
	if err := tr.dev.setState(st); err != nil {
		return err
	}
	tr.step = c.Step
	var pos data.Position
	if err := json.Unmarshal(c.DataPosition, &pos); err != nil {
		return fmt.Errorf("checkpoint %s: metadata data_position %q: %w", c.Path, c.DataPosition, err)
	}
	if err := tr.loader.Seek(pos); err != nil {
		return fmt.Errorf("checkpoint %s: %w", c.Path, err)
	}
	tr.log.Info("resumed", "path", c.Path, "step", tr.step)
	return tr.trimMetrics()
}

// sameModel refuses a checkpoint of another family or of another model
// than cfg describes, naming the file and the first key that differs.
func sameModel(c *ckpt.Checkpoint, cfg *configs.Config) error {
	if c.Family != cfg.Model.Type {
		return fmt.Errorf("checkpoint %s is of model.type %s, the config asks for %s", c.Path, c.Family, cfg.Model.Type)
	}
	if key, have, want := c.Config.Differs(cfg, cfg.ModelKeys()...); key != "" {
		return fmt.Errorf("checkpoint %s has %s = %v, the config asks for %v", c.Path, key, have, want)
	}
	return nil
}

// corruptSuffix is added to the name of a corrupt checkpoint that resume
// passed over, so that neither the save of the same step (which would
// replace it) nor Prune (which would count it as one to keep) touches it.
const corruptSuffix = ".corrupt"

// moveAside renames a checkpoint whose content is corrupt out of the run's
// list of checkpoints; one that could not be read at all stays put.
func (tr *Trainer) moveAside(b ckpt.BadCheckpoint) {
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
