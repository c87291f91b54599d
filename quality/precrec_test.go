package quality

import (
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
)

// naivePrecisionRecall is the definition with sorted exact distances.
func naivePrecisionRecall(real, gen Vectors, k int) (float64, float64) {
	radii := func(v Vectors) []float64 {
		r := make([]float64, v.N())
		for i := range r {
			var d []float64
			for j := range v.N() {
				if j != i {
					d = append(d, math.Sqrt(exactSq(v.row(i), v.row(j))))
				}
			}
			sort.Float64s(d)
			r[i] = d[k-1]
		}
		return r
	}
	share := func(ref Vectors, r []float64, q Vectors) float64 {
		in := 0
		for i := range q.N() {
			for j := range ref.N() {
				if math.Sqrt(exactSq(q.row(i), ref.row(j))) <= r[j] {
					in++
					break
				}
			}
		}
		return float64(in) / float64(q.N())
	}
	return share(real, radii(real), gen), share(gen, radii(gen), real)
}

func TestPrecisionRecallMatchesTheDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	real := correlated(rng, 300, 5, 1)
	gen := shifted(correlated(rng, 250, 5, 1.2), []float64{0.5, 0, 0, 1, 0})
	for _, k := range []int{1, 3, 10} {
		p, r, err := PrecisionRecall(real, gen, k)
		if err != nil {
			t.Fatal(err)
		}
		wp, wr := naivePrecisionRecall(real, gen, k)
		t.Logf("k=%d: precision %.4f recall %.4f", k, p, r)
		if p != wp || r != wr {
			t.Errorf("k=%d: precision %g, recall %g; want %g, %g", k, p, r, wp, wr)
		}
	}
}

func TestPrecisionRecallOfASetWithItself(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 44))
	x := correlated(rng, 500, 16, 10)
	p, r, err := PrecisionRecall(x, x, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p != 1 || r != 1 {
		t.Errorf("precision %g, recall %g; want 1 and 1", p, r)
	}
}

// clusters draws perCluster vectors around each of the chosen centres, unit
// spread, centres 50 apart in each coordinate: far beyond any k-NN radius.
func clusters(rng *rand.Rand, d, perCluster int, which []int) Vectors {
	v := Vectors{D: d}
	for _, c := range which {
		for range perCluster {
			for j := range d {
				centre := 0.0
				if j == c%d {
					centre = 50 * float64(1+c/d)
				}
				v.Data = append(v.Data, centre+rng.NormFloat64())
			}
		}
	}
	return v
}

// A model that draws half of the classes well has the precision of one
// that draws all of them and half its recall. Even a model of the real
// distribution scores below 1: k-NN balls of k = 3 miss the tails, the
// more so in more dimensions (about 0.96 in 2, 0.87 in 8 here).
func TestPrecisionRecallOfHalfTheClusters(t *testing.T) {
	for _, d := range []int{2, 8} {
		rng := rand.New(rand.NewPCG(45, uint64(d)))
		all := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
		real := clusters(rng, d, 200, all)
		full := clusters(rng, d, 200, all)
		half := clusters(rng, d, 400, []int{0, 2, 4, 6, 8})
		p0, r0, err := PrecisionRecall(real, full, 3)
		if err != nil {
			t.Fatal(err)
		}
		p, r, _ := PrecisionRecall(real, half, 3)
		t.Logf("d=%d: all classes: precision %.4f, recall %.4f; half: precision %.4f, recall %.4f", d, p0, r0, p, r)
		// Each share is of 2000 vectors, with a binomial sd of at most 0.011.
		if math.Abs(p-p0) > 0.03 || math.Abs(r-r0/2) > 0.03 {
			t.Errorf("d=%d: half the classes: precision %.4f, recall %.4f; want about %.4f and %.4f", d, p, r, p0, r0/2)
		}
		if d == 2 && (p < 0.93 || r < 0.45 || r > 0.5) {
			t.Errorf("d=2: half the classes: precision %.4f, recall %.4f; want precision about 1 and recall about 1/2", p, r)
		}
		// The other way round, real data with half the classes against a
		// model of all: precision halves and recall stays.
		p, r, _ = PrecisionRecall(half, full, 3)
		if math.Abs(p-p0/2) > 0.03 || math.Abs(r-r0) > 0.03 {
			t.Errorf("d=%d: real data of half the classes: precision %.4f, recall %.4f; want about %.4f and %.4f", d, p, r, p0/2, r0)
		}
	}
}

// With k duplicates a radius is exactly 0: the same vector is inside its
// ball, a vector one ulp away is not, whatever the rounding of the
// expanded distance.
func TestPrecisionRecallBoundaryIsExact(t *testing.T) {
	v := []float64{1e3, -2e3, 3e3}
	real := Vectors{D: 3}
	for range 4 {
		real.Data = append(real.Data, v...)
	}
	near := []float64{v[0], v[1], math.Nextafter(v[2], 4e3)}
	gen := Vectors{D: 3, Data: append(append(append([]float64{}, v...), near...), 0, 0, 0, 5, 5, 5)}
	p, _, err := PrecisionRecall(real, gen, 3)
	if err != nil {
		t.Fatal(err)
	}
	if p != 0.25 {
		t.Errorf("precision %g; want 1/4 (only the exact duplicate is inside)", p)
	}
}

func TestPrecisionRecallErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(47, 48))
	x := correlated(rng, 10, 3, 1)
	bad := Vectors{Data: append([]float64(nil), x.Data...), D: 3}
	bad.Data[4] = math.Inf(1)
	for _, c := range []struct {
		name      string
		real, gen Vectors
		k         int
		want      string
	}{
		{"k as large as a set", x, Vectors{Data: x.Data[:9], D: 3}, 3, "10 real and 3 generated vectors with k = 3"},
		{"negative k", x, x, -1, "k = -1"},
		{"dimensions differ", x, Vectors{Data: x.Data, D: 5}, 3, "real has dimension 3, generated 5"},
		{"Inf", bad, x, 3, "real: vector 1, element 1 is +Inf"},
	} {
		_, _, err := PrecisionRecall(c.real, c.gen, c.k)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v; want one containing %q", c.name, err, c.want)
		}
	}
}
