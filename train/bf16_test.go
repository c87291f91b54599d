package train

import (
	"math"
	"testing"

	"github.com/scoregen/scoregen/nn"
)

// A BF16 run learns as the FP32 run of the same seed does: over 200 steps
// of a small U-Net the mean loss of each 50-step window stays within 10%
// of FP32's (the window smooths the noise of a 16-image batch; measured
// here the windows differed by 0-5%), and both runs learn.
func TestBF16LossFollowsFP32(t *testing.T) {
	if !nn.HasBF16() {
		t.Skip("this CPU has no AVX-512 BF16")
	}
	if testing.Short() {
		t.Skip("200 training steps twice")
	}
	const steps, window = 200, 50
	losses := map[string][]float64{}
	for _, precision := range []string{"fp32", "bf16"} {
		cfg := smallConfig(t, t.TempDir(), "model.ch=16", "data.batch_size=16", "precision="+precision)
		tr := newTrainer(t, cfg, false)
		for range steps {
			st, err := tr.TrainStep()
			if err != nil {
				t.Fatal(err)
			}
			losses[precision] = append(losses[precision], st.Loss())
		}
	}
	mean := func(l []float64) float64 {
		var s float64
		for _, v := range l {
			s += v
		}
		return s / float64(len(l))
	}
	for w := 0; w < steps; w += window {
		f, b := mean(losses["fp32"][w:w+window]), mean(losses["bf16"][w:w+window])
		t.Logf("steps %d-%d: mean loss fp32 %.4f, bf16 %.4f (%+.1f%%)", w, w+window, f, b, 100*(b-f)/f)
		if math.Abs(b-f) > 0.1*f {
			t.Errorf("steps %d-%d: bf16 mean loss %.4f is not within 10%% of fp32's %.4f", w, w+window, b, f)
		}
	}
	for _, p := range []string{"fp32", "bf16"} {
		if first, last := mean(losses[p][:window]), mean(losses[p][steps-window:]); !(last < 0.8*first) {
			t.Errorf("%s did not learn: mean loss %.4f over the first %d steps, %.4f over the last", p, first, window, last)
		}
	}
}
