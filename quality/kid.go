package quality

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/floats"

	"github.com/scoregen/scoregen/internal/par"
)

// KIDOptions choose KID's subsets; a zero field takes its default.
type KIDOptions struct {
	SubsetSize int    // vectors drawn from each set per subset; default min(1000, n of the smaller set)
	Subsets    int    // default 100
	Seed       uint64 // seeds the draws, so that a result is reproducible
}

// KIDResult is KID's estimate and its standard error.
type KIDResult struct {
	Mean float64 // average over subsets of the unbiased MMD^2
	SE   float64 // delete-a-group jackknife standard error of Mean
}

// jackGroups is the number of groups the jackknife deletes in turn: its
// variance estimate has jackGroups-1 degrees of freedom, so the SE itself
// is uncertain by about 1/sqrt(2*19), 16%; more groups cost more sums.
const jackGroups = 20

// KID is the kernel inception distance (Bińkowski et al. 2018,
// "Demystifying MMD GANs"): the squared maximum mean discrepancy between
// the sets under the polynomial kernel k(x, y) = (x·y/d + 1)^3, estimated
// as in their code and torch-fidelity: Subsets times, draw SubsetSize distinct vectors x_i
// from the first set and y_i from the second and take the unbiased
//
//	MMD^2 = sum_{i!=j} k(x_i,x_j)/(m(m-1)) + sum_{i!=j} k(y_i,y_j)/(m(m-1)) - 2 sum_{i,j} k(x_i,y_j)/m^2,
//
// then average. The estimate can be slightly negative when the
// distributions are equal. It is unbiased for independent sets only: a
// set against itself shares its vectors, and with SubsetSize = n gives
// exactly -2 (mean k(x_i,x_i) - mean_{i!=j} k(x_i,x_j))/n.
//
// The spread of the subset estimates is not the standard error of their
// mean: the subsets share vectors (with SubsetSize = n they are all the
// same set), so it describes the choice of subsets, not the sample. SE is
// instead the delete-a-group jackknife over the data: each set is split at
// random into G = 20 groups, and for g = 1..G the same subsets are
// evaluated without the vectors of group g of either set, giving Mean_(g);
// then
//
//	SE^2 = (G-1)/G sum_g (Mean_(g) - mean_g Mean_(g))^2.
//
// It estimates the spread of Mean over new draws of both sets (the choice
// of subsets included), with G-1 degrees of freedom. Over repeated draws
// it matched that spread where the distributions differed and was about
// 1.4 times it where they were equal (the jackknife errs large on a
// degenerate U-statistic), so "within 2-3 SE of 0" is a conservative test.
// A subset left with fewer than 2 vectors of a set after a deletion is
// left out of that Mean_(g).
func KID(x, y Vectors, opt KIDOptions) (KIDResult, error) {
	if err := checkPair(x, y, "first set", "second set"); err != nil {
		return KIDResult{}, err
	}
	nx, ny := x.N(), y.N()
	m := opt.SubsetSize
	if m == 0 {
		m = min(1000, nx, ny)
	}
	if m < 2 || m > min(nx, ny) {
		return KIDResult{}, fmt.Errorf("quality: KID subsets of %d from sets of %d and %d vectors; want 2 <= subset size <= the smaller set", m, nx, ny)
	}
	subsets := opt.Subsets
	if subsets == 0 {
		subsets = 100
	}
	if subsets < 1 {
		return KIDResult{}, fmt.Errorf("quality: %d KID subsets; want at least 1", subsets)
	}
	groups := min(jackGroups, nx, ny)

	// All draws happen here, in order, so that the result does not depend
	// on how the subsets are spread over goroutines.
	rng := rand.New(rand.NewPCG(opt.Seed, 0))
	gx, gy := assignGroups(rng, nx, groups), assignGroups(rng, ny, groups)
	ix, iy := make([]int, subsets*m), make([]int, subsets*m)
	px, py := identity(nx), identity(ny)
	for s := range subsets {
		draw(rng, px, ix[s*m:(s+1)*m])
		draw(rng, py, iy[s*m:(s+1)*m])
	}

	full := make([]float64, subsets)
	without := make([]float64, subsets*groups) // NaN where too few vectors are left
	par.For(subsets, 1, func(lo, hi int) {
		b := newBlockSums(groups)
		for s := lo; s < hi; s++ {
			b.fill(x, y, ix[s*m:(s+1)*m], iy[s*m:(s+1)*m], gx, gy)
			full[s] = b.mmd(-1)
			for g := range groups {
				without[s*groups+g] = b.mmd(g)
			}
		}
	})

	mean := floats.Sum(full) / float64(subsets)
	jack := make([]float64, groups)
	for g := range groups {
		sum, count := 0.0, 0
		for s := range subsets {
			if v := without[s*groups+g]; !math.IsNaN(v) {
				sum += v
				count++
			}
		}
		if count == 0 {
			return KIDResult{}, fmt.Errorf("quality: KID subsets of %d are too small for a jackknife over %d groups; want larger subsets", m, groups)
		}
		jack[g] = sum / float64(count)
	}
	jackMean := floats.Sum(jack) / float64(groups)
	ss := 0.0
	for _, v := range jack {
		ss += (v - jackMean) * (v - jackMean)
	}
	return KIDResult{Mean: mean, SE: math.Sqrt(float64(groups-1) / float64(groups) * ss)}, nil
}

// assignGroups splits n indices at random into groups of sizes differing
// by at most one.
func assignGroups(rng *rand.Rand, n, groups int) []int {
	g := make([]int, n)
	for i, p := range rng.Perm(n) {
		g[p] = i % groups
	}
	return g
}

func identity(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	return p
}

// draw fills dst with distinct elements of p, chosen uniformly by a partial
// Fisher-Yates shuffle; p is left permuted, which keeps later draws uniform.
func draw(rng *rand.Rand, p, dst []int) {
	for j := range dst {
		k := j + rng.IntN(len(p)-j)
		p[j], p[k] = p[k], p[j]
		dst[j] = p[j]
	}
}

// blockSums holds one subset's kernel sums split by the jackknife groups of
// the two vectors: xx[g*G+h] sums k over pairs i<j with x_i in group g and
// x_j in group h, so the sum without group g is the total less row g and
// column g plus their shared cell.
type blockSums struct {
	groups     int
	xx, yy, xy []float64
	cx, cy     []int // members of each group in the subset
	invD       float64
}

func newBlockSums(groups int) *blockSums {
	return &blockSums{
		groups: groups,
		xx:     make([]float64, groups*groups),
		yy:     make([]float64, groups*groups),
		xy:     make([]float64, groups*groups),
		cx:     make([]int, groups),
		cy:     make([]int, groups),
	}
}

func (b *blockSums) fill(x, y Vectors, ix, iy, gx, gy []int) {
	clear(b.xx)
	clear(b.yy)
	clear(b.xy)
	clear(b.cx)
	clear(b.cy)
	b.invD = 1 / float64(x.D)
	G := b.groups
	b.pairs(x, ix, gx, b.xx, b.cx)
	b.pairs(y, iy, gy, b.yy, b.cy)
	for _, i := range ix {
		xi, row := x.row(i), gx[i]*G
		for _, j := range iy {
			b.xy[row+gy[j]] += b.kernel(xi, y.row(j))
		}
	}
}

// pairs adds k over the distinct pairs of the subset idx of v to sums and
// counts the subset's members of each group.
func (b *blockSums) pairs(v Vectors, idx, group []int, sums []float64, count []int) {
	G := b.groups
	for a, i := range idx {
		vi, row := v.row(i), group[i]*G
		count[group[i]]++
		for _, j := range idx[a+1:] {
			sums[row+group[j]] += b.kernel(vi, v.row(j))
		}
	}
}

func (b *blockSums) kernel(u, v []float64) float64 {
	k := floats.Dot(u, v)*b.invD + 1
	return k * k * k
}

// mmd is the unbiased MMD^2 of the subset without the vectors of group
// drop (none when drop < 0), or NaN when that leaves fewer than 2 of a set.
func (b *blockSums) mmd(drop int) float64 {
	sxx, syy, sxy := b.without(b.xx, drop), b.without(b.yy, drop), b.without(b.xy, drop)
	mx, my := 0, 0
	for g := range b.groups {
		if g != drop {
			mx += b.cx[g]
			my += b.cy[g]
		}
	}
	if mx < 2 || my < 2 {
		return math.NaN()
	}
	fx, fy := float64(mx), float64(my)
	// The sums are over pairs i<j; the estimator's are over i!=j.
	return 2*sxx/(fx*(fx-1)) + 2*syy/(fy*(fy-1)) - 2*sxy/(fx*fy)
}

// without sums the G x G cells of sums outside row and column drop.
func (b *blockSums) without(sums []float64, drop int) float64 {
	t := 0.0
	for g := range b.groups {
		if g == drop {
			continue
		}
		for h, v := range sums[g*b.groups : (g+1)*b.groups] {
			if h != drop {
				t += v
			}
		}
	}
	return t
}
