package quality

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/floats"

	"github.com/scoregen/scoregen/internal/par"
)

// DefaultK is the neighbourhood size PrecisionRecall takes for k = 0, as
// Kynkäänniemi et al. recommend.
const DefaultK = 3

// PrecisionRecall estimates precision and recall of a generative model in
// feature space (Kynkäänniemi et al. 2019, "Improved precision and recall
// metric for assessing generative models"). Each set's manifold is the
// union of balls around its vectors, each reaching the vector's k-th
// nearest neighbour in its own set (k = DefaultK when 0):
//
//	precision = share of generated vectors inside the real manifold (fidelity)
//	recall    = share of real vectors inside the generated manifold (coverage)
//
// A vector on a ball's boundary is inside. Distances are exact, O(n^2 d)
// (n = 10000, d = 128: 16 s on two cores shared with a training run);
// memory is O(n) beyond the inputs.
func PrecisionRecall(real, gen Vectors, k int) (precision, recall float64, err error) {
	if k == 0 {
		k = DefaultK
	}
	if err := checkPair(real, gen, "real", "generated"); err != nil {
		return 0, 0, err
	}
	if k < 1 || real.N() <= k || gen.N() <= k {
		return 0, 0, fmt.Errorf("quality: %d real and %d generated vectors with k = %d; want k >= 1 and more than k vectors in each set", real.N(), gen.N(), k)
	}
	nr, ng := sqNorms(real), sqNorms(gen)
	rr, rg := kthRadii(real, nr, k), kthRadii(gen, ng, k)
	return coverage(real, nr, rr, gen, ng), coverage(gen, ng, rg, real, nr), nil
}

func sqNorms(v Vectors) []float64 {
	s := make([]float64, v.N())
	for i := range s {
		r := v.row(i)
		s[i] = floats.Dot(r, r)
	}
	return s
}

// Distances are |a|^2 + |b|^2 - 2 a·b, whose dot product runs in gonum's
// assembly (ten times the plain loop over (a-b)^2 here); its round-off is
// at most slack(a, b), and a decision that close to a boundary is made
// again on the exact squared distance.
func slack(d int, na, nb float64) float64 { return 4 * float64(d+2) * 0x1p-53 * (na + nb) }

func exactSq(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		e := a[i] - b[i]
		s += e * e
	}
	return s
}

// kthRadii returns each vector's squared distance to its k-th nearest
// other vector of the same set (a duplicate counts, at distance 0).
func kthRadii(v Vectors, norms []float64, k int) []float64 {
	n := v.N()
	radii := make([]float64, n)
	par.For(n, 16, func(lo, hi int) {
		best := make([]float64, k) // the k smallest so far, ascending
		who := make([]int, k)
		for i := lo; i < hi; i++ {
			vi := v.row(i)
			for t := range best {
				best[t] = math.Inf(1)
			}
			for j := range n {
				if j == i {
					continue
				}
				e := norms[i] + norms[j] - 2*floats.Dot(vi, v.row(j))
				if e >= best[k-1] {
					continue
				}
				t := k - 1
				for ; t > 0 && best[t-1] > e; t-- {
					best[t], who[t] = best[t-1], who[t-1]
				}
				best[t], who[t] = e, j
			}
			// The k-th of the rounded distances is the k-th of the exact
			// ones up to round-off; its exact value makes the radius exact.
			r := 0.0
			for _, j := range who {
				r = max(r, exactSq(vi, v.row(j)))
			}
			radii[i] = r
		}
	})
	return radii
}

// coverage is the share of the query vectors inside at least one ball of
// squared radius radii[j] around ref vector j.
func coverage(ref Vectors, refNorms, radii []float64, query Vectors, queryNorms []float64) float64 {
	inside := make([]bool, query.N())
	par.For(query.N(), 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			q := query.row(i)
			for j := range ref.N() {
				e := queryNorms[i] + refNorms[j] - 2*floats.Dot(q, ref.row(j))
				s := slack(ref.D, queryNorms[i], refNorms[j])
				if e <= radii[j]-s || (e <= radii[j]+s && exactSq(q, ref.row(j)) <= radii[j]) {
					inside[i] = true
					break
				}
			}
		}
	})
	n := 0
	for _, in := range inside {
		if in {
			n++
		}
	}
	return float64(n) / float64(len(inside))
}
