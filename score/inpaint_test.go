package score

import (
	"math"
	"strings"
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

// TestColorizeKeepsTheGray colorises two 32x32 colour images of the small
// network: each pixel's channel mean comes back as the gray image's (the
// last step sets it to Mean(eps) gray) where no channel is clipped to
// [-1, 1], the channels differ from one another, and a model of gray
// images is refused.
func TestColorizeKeepsTheGray(t *testing.T) {
	// A VE SDE of small sigma_max keeps the untrained network's colours
	// (noise of about that size) mostly inside [-1, 1].
	f, w := smallFamily(t, "data.name=cifar10", "sde.type=ve", "sde.sigma_max=0.3")
	o := model.SampleOptions{Device: "cpu", EMA: true, Sample: f.cfg.Sample}
	// Euler-Maruyama, not mnist_tiny's pc: the untrained network's
	// corrector steps would push the colours past [-1, 1].
	o.Sample.Sampler, o.Sample.Steps = "em", 5
	const n, c, hw = 2, 3, 32 * 32
	gray := make([]float32, n*c*hw)
	for j := range gray {
		gray[j] = float32(0.3 * math.Sin(float64(j%hw+j/(c*hw)))) // each image its own
	}
	y, err := f.Colorize(w, gray, n, o)
	if err != nil {
		t.Fatal(err)
	}
	coloured := 0
	for i := range n {
		for p := range hw {
			r, g, b := y[(i*c)*hw+p], y[(i*c+1)*hw+p], y[(i*c+2)*hw+p]
			if clipped := max(r, g, b) == 1 || min(r, g, b) == -1; clipped {
				continue
			}
			if m, want := (r+g+b)/3, gray[i*c*hw+p]; math.Abs(float64(m-want)) > 1e-3 {
				t.Fatalf("image %d pixel %d: channel mean %v, gray %v", i, p, m, want)
			}
			if math.Abs(float64(r-g)) > 1e-2 || math.Abs(float64(g-b)) > 1e-2 {
				coloured++
			}
		}
	}
	if coloured < n*hw/2 {
		t.Errorf("only %d of %d pixels have colour and are not clipped", coloured, n*hw)
	}
	g, gw := smallFamily(t)
	if _, err := g.Colorize(gw, make([]float32, 28*28), 1, o); err == nil || !strings.Contains(err.Error(), "colour images") {
		t.Errorf("colorising MNIST: %v", err)
	}
}
