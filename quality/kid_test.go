package quality

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// polyKernel is k(x, y) = (x·y/d + 1)^3 by plain loops.
func polyKernel(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return math.Pow(s/float64(len(a))+1, 3)
}

// kernelMeans are the mean of k over the ordered pairs i != j of x, over
// those of y, over all pairs between x and y, and over x's diagonal.
func kernelMeans(x, y Vectors) (xx, yy, xy, diagX float64) {
	nx, ny := x.N(), y.N()
	for i := range nx {
		for j := range nx {
			if i == j {
				diagX += polyKernel(x.row(i), x.row(i)) / float64(nx)
			} else {
				xx += polyKernel(x.row(i), x.row(j)) / float64(nx*(nx-1))
			}
		}
		for j := range ny {
			xy += polyKernel(x.row(i), y.row(j)) / float64(nx*ny)
		}
	}
	for i := range ny {
		for j := range ny {
			if i != j {
				yy += polyKernel(y.row(i), y.row(j)) / float64(ny*(ny-1))
			}
		}
	}
	return xx, yy, xy, diagX
}

// One subset of all vectors is the unbiased MMD^2 of the two whole sets,
// whatever order the draw put them in.
func TestKIDOfWholeSetsIsTheUnbiasedMMD(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	x := gaussian(rng, 150, make([]float64, 5), ones(5))
	y := gaussian(rng, 150, []float64{0.3, 0, 0, 0, -0.2}, []float64{1, 2, 1, 1, 0.5})
	xx, yy, xy, _ := kernelMeans(x, y)
	want := xx + yy - 2*xy
	got, err := KID(x, y, KIDOptions{SubsetSize: 150, Subsets: 1})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got.Mean-want) > 1e-12*xy {
		t.Errorf("KID %.15g; want the unbiased MMD^2 %.15g", got.Mean, want)
	}
}

// The estimator is unbiased for independent sets only. A set against
// itself shares every vector, and its cross term takes in the diagonal:
// with all n vectors, MMD^2 = 2 A - 2 ((n-1) A + D)/n = -2 (D - A)/n, for
// A the mean of k off the diagonal and D on it. That is 0 up to O(1/n) of
// the kernel's scale, but negative and usually many SEs from 0.
func TestKIDOfASetWithItself(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	const n = 200
	x := correlated(rng, n, 8, 0.3)
	a, _, _, diag := kernelMeans(x, x)
	want := -2 * (diag - a) / n
	got, err := KID(x, x, KIDOptions{SubsetSize: n, Subsets: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("KID(x, x) = %.6g ± %.2g, mean kernel %.4g", got.Mean, got.SE, a)
	if math.Abs(got.Mean-want) > 1e-12*diag {
		t.Errorf("KID(x, x) = %.15g; want -2 (D - A)/n = %.15g", got.Mean, want)
	}
}

// On independent samples of one distribution the estimate is within a few
// SEs of 0; against a shifted distribution it is many SEs above 0.
func TestKIDSameAndShiftedDistributions(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	const n, d = 1500, 16
	mean, shift := make([]float64, d), make([]float64, d)
	for i := range shift {
		shift[i] = 0.3
	}
	x, y, z := gaussian(rng, n, mean, ones(d)), gaussian(rng, n, mean, ones(d)), gaussian(rng, n, shift, ones(d))
	opt := KIDOptions{Subsets: 20, Seed: 1} // subsets of the default 1000
	same, err := KID(x, y, opt)
	if err != nil {
		t.Fatal(err)
	}
	apart, err := KID(x, z, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("same distribution: %.3g ± %.2g; shifted by 0.3 sd: %.3g ± %.2g", same.Mean, same.SE, apart.Mean, apart.SE)
	if math.Abs(same.Mean) > 3*same.SE {
		t.Errorf("same distribution: KID %.3g ± %.2g; want within 3 SE of 0", same.Mean, same.SE)
	}
	if apart.Mean < 10*apart.SE {
		t.Errorf("shifted: KID %.3g ± %.2g; want more than 10 SE above 0", apart.Mean, apart.SE)
	}
}

// The SE is the spread of the estimate over new samples: over 150 pairs
// of fresh sets, the root mean square of the reported SEs against the
// standard deviation of the estimates. With the distributions apart the
// jackknife is about right; with them equal (a degenerate U-statistic) it
// errs large, by about sqrt(2) (1.45 measured over 300 pairs). With 150
// pairs the measured sd itself is uncertain by about 6%.
func TestKIDStandardErrorIsCalibrated(t *testing.T) {
	const n, d, pairs = 300, 4, 150
	for _, c := range []struct {
		shift    float64
		low, top float64
	}{{0, 1.1, 1.9}, {0.3, 0.8, 1.25}} {
		rng := rand.New(rand.NewPCG(27, 28))
		shift := make([]float64, d)
		for i := range shift {
			shift[i] = c.shift
		}
		means, ses := make([]float64, pairs), make([]float64, pairs)
		for r := range pairs {
			x, y := gaussian(rng, n, make([]float64, d), ones(d)), gaussian(rng, n, shift, ones(d))
			k, err := KID(x, y, KIDOptions{SubsetSize: 100, Subsets: 20, Seed: uint64(r)})
			if err != nil {
				t.Fatal(err)
			}
			means[r], ses[r] = k.Mean, k.SE
		}
		mu, sd, rms := 0.0, 0.0, 0.0
		for r := range pairs {
			mu += means[r] / pairs
			rms += ses[r] * ses[r] / pairs
		}
		for _, m := range means {
			sd += (m - mu) * (m - mu) / (pairs - 1)
		}
		ratio := math.Sqrt(rms / sd)
		t.Logf("shift %g: KID %.3g, sd over pairs %.3g, rms SE %.3g, ratio %.2f", c.shift, mu, math.Sqrt(sd), math.Sqrt(rms), ratio)
		if ratio < c.low || ratio > c.top {
			t.Errorf("shift %g: rms SE / sd of the estimates = %.2f; want it in [%g, %g]", c.shift, ratio, c.low, c.top)
		}
	}
}

func TestKIDIsReproducible(t *testing.T) {
	rng := rand.New(rand.NewPCG(29, 30))
	x, y := correlated(rng, 300, 6, 0.5), correlated(rng, 300, 6, 0.5)
	opt := KIDOptions{SubsetSize: 100, Subsets: 10, Seed: 7}
	a, _ := KID(x, y, opt)
	b, _ := KID(x, y, opt)
	opt.Seed = 8
	c, _ := KID(x, y, opt)
	if a != b {
		t.Errorf("seed 7 twice: %+v and %+v; want equal", a, b)
	}
	if a == c {
		t.Errorf("seeds 7 and 8 both gave %+v; want different subsets", a)
	}
}

func TestKIDErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	x, y := correlated(rng, 50, 3, 1), correlated(rng, 40, 3, 1)
	bad := Vectors{Data: append([]float64(nil), y.Data...), D: 3}
	bad.Data[5] = math.NaN()
	for _, c := range []struct {
		name string
		a, b Vectors
		opt  KIDOptions
		want string
	}{
		{"subset larger than a set", x, y, KIDOptions{SubsetSize: 41}, "subsets of 41 from sets of 50 and 40 vectors"},
		{"subset of one", x, y, KIDOptions{SubsetSize: 1}, "subsets of 1"},
		{"one vector", x, Vectors{Data: y.Data[:3], D: 3}, KIDOptions{}, "subsets of 1 from sets of 50 and 1"},
		{"too few for the jackknife", Vectors{Data: x.Data[:6], D: 3}, Vectors{Data: y.Data[:6], D: 3}, KIDOptions{}, "subsets of 2 are too small for a jackknife over 2 groups"},
		{"negative subsets", x, y, KIDOptions{Subsets: -1}, "-1 KID subsets"},
		{"dimensions differ", x, Vectors{Data: y.Data[:120], D: 4}, KIDOptions{}, "dimension 3, second set 4"},
		{"NaN", x, bad, KIDOptions{}, "second set: vector 1, element 2 is NaN"},
	} {
		_, err := KID(c.a, c.b, c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v; want one containing %q", c.name, err, c.want)
		}
	}
}
