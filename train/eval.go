package train

import (
	"encoding/json"
	"errors"
	"io"
	"path/filepath"

	"github.com/scoregen/scoregen/data"
	"github.com/scoregen/scoregen/internal/atomicfile"
	"github.com/scoregen/scoregen/model"
)

// evalFile is the name, in train.out_dir, of the file that Evaluate writes.
const evalFile = "eval.json"

// ErrNoEvaluation is Evaluate's error for a family that scores no
// held-out data.
var ErrNoEvaluation = errors.New("the family does not evaluate held-out data")

// Evaluate scores test with the current weights (their EMA where kept)
// when the family is a model.Evaluator, and writes the figures with the
// step to eval.json in train.out_dir (atomically).
func (tr *Trainer) Evaluate(test *data.Dataset) (map[string]float64, error) {
	ev, ok := tr.family.(model.Evaluator)
	if !ok {
		return nil, ErrNoEvaluation
	}
	w, err := tr.Weights()
	if err != nil {
		return nil, err
	}
	figures, err := ev.Evaluate(w, test, model.SampleOptions{Device: tr.cfg.Device, GPU: tr.cfg.GPU, EMA: true, Sample: tr.cfg.Sample})
	if err != nil {
		return nil, err
	}
	out := map[string]any{"step": tr.step, "test_images": test.N}
	for k, v := range figures {
		out[k] = v
	}
	err = atomicfile.Write(filepath.Join(tr.cfg.Train.OutDir, evalFile), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	})
	return figures, err
}
