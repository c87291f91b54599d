package score

import (
	"math"
	"testing"

	"github.com/scoregen/scoregen/model"
)

// TestInpaintKeepsTheKnown inpaints the right half of two images: the left
// half comes back as given (the last step sets it to Mean(eps) data), the
// right is generated, and a sampler other than em or pc is refused.
func TestInpaintKeepsTheKnown(t *testing.T) {
	f, w := smallFamily(t)
	o := model.SampleOptions{Device: "cpu", EMA: true, Sample: f.cfg.Sample}
	o.Sample.Steps = 5
	const n, d = 2, 28 * 28
	x, mask := make([]float32, n*d), make([]float32, n*d)
	for j := range x {
		x[j] = float32(math.Sin(float64(j)))
		if j%28 < 14 {
			mask[j] = 1
		}
	}
	y, err := f.Inpaint(w, x, mask, n, o)
	if err != nil {
		t.Fatal(err)
	}
	changed := 0
	for j := range y {
		if mask[j] == 1 && math.Abs(float64(y[j]-x[j])) > 1e-3 {
			t.Fatalf("known value %d: %v, given %v", j, y[j], x[j])
		}
		if mask[j] == 0 && math.Abs(float64(y[j]-x[j])) > 1e-2 {
			changed++
		}
	}
	if changed < n*d/4 {
		t.Errorf("only %d of the %d unknown values differ from the image", changed, n*d/2)
	}
	o.Sample.Sampler = "ode"
	if _, err := f.Inpaint(w, x, mask, n, o); err == nil {
		t.Error("inpainting with the ode sampler accepted")
	}
}
