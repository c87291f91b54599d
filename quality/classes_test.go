package quality

import (
	"math"
	"strings"
	"testing"
)

// oneHotish gives sample i the class classOf(i) with probability top and
// spreads the rest evenly over the other classes.
func oneHotish(n, classes int, top float64, classOf func(i int) int) Vectors {
	p := Vectors{Data: make([]float64, n*classes), D: classes}
	rest := (1 - top) / float64(classes-1)
	for i := range n {
		for c := range classes {
			p.Data[i*classes+c] = rest
		}
		p.Data[i*classes+classOf(i)] = top
	}
	return p
}

func TestClassEntropy(t *testing.T) {
	for _, c := range []struct {
		name    string
		classOf func(i int) int
		want    float64
	}{
		{"all ten equally common", func(i int) int { return i % 10 }, math.Log(10)},
		{"five of ten", func(i int) int { return 2 * (i % 5) }, math.Log(5)},
		{"one", func(int) int { return 7 }, 0},
		// Three quarters in one class, a quarter in another.
		{"3:1", func(i int) int { return 3 * min(i%4, 1) }, -(0.75*math.Log(0.75) + 0.25*math.Log(0.25))},
	} {
		h, err := ClassEntropy(oneHotish(1000, 10, 0.6, c.classOf))
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(h-c.want) > 1e-12 {
			t.Errorf("%s: entropy %.15g nats; want %.15g", c.name, h, c.want)
		}
	}
	// A tie goes to the first class, so a uniform row counts as class 0.
	h, _ := ClassEntropy(Vectors{Data: []float64{0.5, 0.5, 0, 1}, D: 2})
	if math.Abs(h-math.Log(2)) > 1e-15 {
		t.Errorf("one tie and one class 1: entropy %g; want log 2", h)
	}
}

func TestConfidentShare(t *testing.T) {
	p := Vectors{D: 3}
	for _, top := range []float64{0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95} {
		p.Data = append(p.Data, (1-top)/2, top, (1-top)/2)
	}
	for _, c := range []struct{ threshold, want float64 }{
		{0, 0.2},   // the default 0.9: 0.9 (counted at equality) and 0.95
		{0.7, 0.6}, // 0.7 and above
		{0.96, 0},
		{0.3, 1},
		{0.55, 0.9}, // 0.55 and above
	} {
		got, err := ConfidentShare(p, c.threshold)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("threshold %g: share %g; want %g", c.threshold, got, c.want)
		}
	}
}

func TestClassErrors(t *testing.T) {
	good := []float64{0.2, 0.8, 0.5, 0.5}
	for _, c := range []struct {
		name string
		p    Vectors
		want string
	}{
		{"logits", Vectors{Data: []float64{2.1, -0.3, 0.5, 0.5}, D: 2}, "row 0, class 1 is -0.3"},
		{"not summing to 1", Vectors{Data: []float64{0.2, 0.8, 0.5, 0.6}, D: 2}, "row 1 sums to 1.1"},
		{"NaN", Vectors{Data: []float64{0.2, 0.8, math.NaN(), 0.5}, D: 2}, "vector 1, element 0 is NaN"},
		{"no samples", Vectors{D: 10}, "no samples"},
		{"ragged", Vectors{Data: good[:3], D: 2}, "3 values are not whole vectors of dimension 2"},
	} {
		_, err := ClassEntropy(c.p)
		_, err2 := ConfidentShare(c.p, 0)
		for _, e := range []error{err, err2} {
			if e == nil || !strings.Contains(e.Error(), c.want) {
				t.Errorf("%s: error %v; want one containing %q", c.name, e, c.want)
			}
		}
	}
	for _, th := range []float64{-0.1, 1.5, math.NaN()} {
		if _, err := ConfidentShare(Vectors{Data: good, D: 2}, th); err == nil || !strings.Contains(err.Error(), "confidence threshold") {
			t.Errorf("threshold %g: error %v; want one about the threshold", th, err)
		}
	}
}
