package train

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/scoregen/scoregen/data"
	"github.com/scoregen/scoregen/model"
)

// scoring is a family that evaluates held-out data: the number of test
// images and one EMA weight, so that the test can see what it was given.
type scoring struct{ model.Family }

func (s scoring) Evaluate(w model.Weights, test *data.Dataset, o model.SampleOptions) (map[string]float64, error) {
	v, ok := w("ema.temb.dense0.bias")
	if !ok || !o.EMA {
		return nil, errors.New("no EMA weights")
	}
	return map[string]float64{"images": float64(test.N), "w0": float64(v[0])}, nil
}

// Evaluate hands the family the EMA weights and the test set and writes
// the figures with the step to eval.json; a family without an evaluation
// says so.
func TestEvaluateWritesTheFigures(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig(t, dir, "train.steps=2")
	if _, err := newTrainer(t, cfg, false).Evaluate(digits(3)); !errors.Is(err, ErrNoEvaluation) {
		t.Fatalf("the score family: err = %v, want ErrNoEvaluation", err)
	}
	tr, err := New(scoring{family(t, cfg)}, cfg, digits(40), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if _, err := tr.TrainStep(); err != nil {
		t.Fatal(err)
	}
	w, err := tr.Weights()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := w("ema.temb.dense0.bias")
	if _, err := tr.Evaluate(digits(5)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, evalFile))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]float64
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got["step"] != 1 || got["images"] != 5 || got["test_images"] != 5 || got["w0"] != float64(want[0]) {
		t.Fatalf("eval.json = %s, want step 1, 5 images and w0 %v", b, want[0])
	}
}
