package evaluate

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/scoregen/scoregen/data"
	"github.com/scoregen/scoregen/quality"
)

// poolJudge is a stand-in for the judge network: its features are the
// means of 7x7 tiles of a 28x28 image (16 of them) and its class is the
// brightest of the first 10 tiles, with probability 0.95.
type poolJudge struct{ dataset string }

func (j poolJudge) Dataset() string { return j.dataset }
func (j poolJudge) Dim() int        { return 16 }

func (j poolJudge) Run(x []float32, n int) (features, probs []float64, err error) {
	const side, tile = 28, 7
	features, probs = make([]float64, 0, n*16), make([]float64, 0, n*10)
	for i := range n {
		img := x[i*side*side : (i+1)*side*side]
		var f [16]float64
		for r := range side {
			for c := range side {
				f[(r/tile)*4+c/tile] += float64(img[r*side+c]) / (tile * tile)
			}
		}
		features = append(features, f[:]...)
		best := 0
		for k := range 10 {
			if f[k] > f[best] {
				best = k
			}
		}
		for k := range 10 {
			p := 0.05 / 9
			if k == best {
				p = 0.95
			}
			probs = append(probs, p)
		}
	}
	return features, probs, nil
}

// randomSet is n random 28x28 images named name, each a bright tile on a
// noisy background, so that the stand-in judge's features vary.
func randomSet(name string, n int, seed uint64) *data.Dataset {
	rng := rand.New(rand.NewPCG(seed, 9))
	ds := &data.Dataset{Name: name, N: n, C: 1, H: 28, W: 28, Pixels: make([]uint8, n*784), Labels: make([]uint8, n)}
	for i := range n {
		k := rng.IntN(10)
		ds.Labels[i] = uint8(k)
		for p := range 784 {
			v := rng.IntN(100)
			if (p/28)/7*4+(p%28)/7 == k {
				v += 155
			}
			ds.Pixels[i*784+p] = uint8(v)
		}
	}
	return ds
}

// The test images scored as samples are the test set itself: FD 0,
// precision and recall 1; the floor is the Fréchet distance of the test
// features against the training features; the confidence and entropy
// are the stand-in judge's.
func TestScoreOfTheTestSetItself(t *testing.T) {
	test, train := randomSet("mnist", 300, 1), randomSet("mnist", 400, 2)
	j := poolJudge{"mnist"}
	x := make([]float32, test.N*784)
	test.Images(x, 0, test.N)
	r, err := Score(j, x, test.N, test, train)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the test set as samples: %v", r)
	if math.Abs(r.FD) > 1e-9 || r.Precision != 1 || r.Recall != 1 {
		t.Errorf("the test set against itself: FD %g, precision %g, recall %g; want 0, 1, 1", r.FD, r.Precision, r.Recall)
	}
	tf, _, _ := j.Run(x, test.N)
	rf, _, _ := j.Run(subset(train, test.N), test.N)
	floor, err := quality.FrechetDistance(quality.Vectors{Data: tf, D: 16}, quality.Vectors{Data: rf, D: 16})
	if err != nil || math.Abs(r.FDFloor-floor) > 1e-9*floor || floor <= 0 {
		t.Errorf("floor %g, want the test set against %d training images: %g (%v)", r.FDFloor, test.N, floor, err)
	}
	if r.Confident != 1 || r.ClassEntropy < 0.9*math.Log(10) {
		t.Errorf("confident %g, class entropy %g: want 1 and about log 10 = %g", r.Confident, r.ClassEntropy, math.Log(10))
	}
}

// Samples that miss half the classes score a higher FD than the floor, a
// recall near a half and a class entropy near log 5.
func TestScoreOfHalfTheClasses(t *testing.T) {
	test, train := randomSet("mnist", 400, 1), randomSet("mnist", 400, 2)
	pool := randomSet("mnist", 800, 3)
	var x []float32
	img := make([]float32, 784)
	for i := range pool.N {
		if pool.Labels[i] < 5 {
			pool.Images(img, i, 1)
			x = append(x, img...)
		}
	}
	n := len(x) / 784
	r, err := Score(poolJudge{"mnist"}, x, n, test, train)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d samples of 5 classes: %v", n, r)
	if r.FD < 5*r.FDFloor || math.Abs(r.Recall-0.5) > 0.1 || math.Abs(r.ClassEntropy-math.Log(5)) > 0.05 || r.Precision < 0.8 {
		t.Errorf("half the classes: %v; want FD well above the floor, recall about 0.5, entropy about log 5 = %.3g, precision near 1", r, math.Log(5))
	}
}

func TestScoreRefusesBadInput(t *testing.T) {
	test, train := randomSet("mnist", 100, 1), randomSet("mnist", 100, 2)
	good := make([]float32, 50*784)
	test.Images(good, 0, 50)
	outside := append([]float32(nil), good...)
	outside[3*784+5] = 255
	unit := make([]float32, len(good))
	for i, v := range good {
		unit[i] = (v + 1) / 2
	}
	for _, c := range []struct {
		name  string
		judge Judge
		x     []float32
		n     int
		want  string
	}{
		{"judge of another data set", poolJudge{"fashion"}, good, 50, "trained on fashion"},
		{"wrong image size", poolJudge{"mnist"}, good[:49*784+100], 50, "1x28x28"},
		{"values in [0, 255]", poolJudge{"mnist"}, outside, 50, "sample 3 holds 255"},
		{"fewer samples than features", poolJudge{"mnist"}, good[:10*784], 10, "more vectors than dimensions"},
		{"values in [0, 1]", poolJudge{"mnist"}, unit, 50, "[0, 1]"},
	} {
		if _, err := Score(c.judge, c.x, c.n, test, train); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one saying %q", c.name, err, c.want)
		}
	}
}

// The reference images are m distinct images of the set, not its first m,
// and the same at every call.
func TestSubsetIsAFixedDrawWithoutReplacement(t *testing.T) {
	ds := &data.Dataset{Name: "mnist", N: 50, C: 1, H: 1, W: 1, Pixels: make([]uint8, 50)}
	for i := range ds.Pixels {
		ds.Pixels[i] = uint8(i)
	}
	a, b := subset(ds, 20), subset(ds, 20)
	seen, inOrder := map[float32]bool{}, true
	for i, v := range a {
		if seen[v] {
			t.Fatalf("image %v drawn twice", v)
		}
		seen[v] = true
		inOrder = inOrder && v == float32(i)/127.5-1
		if b[i] != v {
			t.Fatalf("second draw differs at %d: %v, %v", i, b[i], v)
		}
	}
	if inOrder {
		t.Errorf("the subset is the first 20 images")
	}
}
