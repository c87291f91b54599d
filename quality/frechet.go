package quality

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
)

// Moments are a feature set's mean and unbiased covariance: all the
// Fréchet distance needs of a set, so a reference set's moments can be
// computed once and compared with many generated sets.
type Moments struct {
	Mean []float64
	Cov  *mat.SymDense
}

// MomentsOf returns the mean and the unbiased (divided by n-1) covariance
// of x. It needs more vectors than dimensions: with n <= d the covariance
// is singular and the Fréchet distance meaningless.
func MomentsOf(x Vectors) (Moments, error) { return momentsOf(x, "features") }

// momentsOf is MomentsOf with errors naming the set as what.
func momentsOf(x Vectors, what string) (Moments, error) {
	if err := x.check(what); err != nil {
		return Moments{}, err
	}
	n, d := x.N(), x.D
	if n <= d {
		return Moments{}, fmt.Errorf("quality: %s: %d vectors of dimension %d give a singular covariance; want more vectors than dimensions", what, n, d)
	}
	m := mat.NewDense(n, d, x.Data)
	mean := make([]float64, d)
	for i := range n {
		for j, v := range x.row(i) {
			mean[j] += v
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	var cov mat.SymDense
	stat.CovarianceMatrix(&cov, m, nil)
	return Moments{Mean: mean, Cov: &cov}, nil
}

// FrechetDistance is the Fréchet distance between Gaussians fitted to two
// feature sets (Heusel et al. 2017, "GANs trained by a two time-scale
// update rule converge to a local Nash equilibrium"; FID when the features
// are Inception's): see Frechet.
func FrechetDistance(a, b Vectors) (float64, error) {
	if err := checkPair(a, b, "first set", "second set"); err != nil {
		return 0, err
	}
	ma, err := momentsOf(a, "first set")
	if err != nil {
		return 0, err
	}
	mb, err := momentsOf(b, "second set")
	if err != nil {
		return 0, err
	}
	return Frechet(ma, mb)
}

// Frechet is the squared Fréchet (2-Wasserstein) distance between the
// Gaussians N(mu1, S1) and N(mu2, S2) (Dowson & Landau 1982):
//
//	||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1^{1/2} S2 S1^{1/2})^{1/2})
//
// Both square roots come from symmetric eigendecompositions, which stay
// real and accurate where the covariances are nearly singular (the
// general square root of S1 S2 that reference FID code takes does not).
// Round-off makes eigenvalues of a positive semi-definite matrix slightly
// negative; those are taken as zero, and so is a slightly negative
// result. A covariance with a clearly negative eigenvalue is an error.
func Frechet(a, b Moments) (float64, error) {
	d := len(a.Mean)
	if d == 0 || len(b.Mean) != d || a.Cov == nil || b.Cov == nil || a.Cov.SymmetricDim() != d || b.Cov.SymmetricDim() != d {
		return 0, fmt.Errorf("quality: moments of dimension %d and %d; want equal positive dimensions and a d x d covariance with each mean", d, len(b.Mean))
	}
	rootA, err := sqrtPSD(a.Cov, "first set")
	if err != nil {
		return 0, err
	}
	if _, _, err := eigenPSD(b.Cov, false, "second set"); err != nil {
		return 0, err
	}
	var t, p mat.Dense
	t.Mul(rootA, b.Cov)
	p.Mul(&t, rootA)
	// p is symmetric in exact arithmetic; average out the round-off so that
	// the symmetric solver sees the matrix it is given.
	s := mat.NewSymDense(d, nil)
	for i := range d {
		for j := i; j < d; j++ {
			s.SetSym(i, j, (p.At(i, j)+p.At(j, i))/2)
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(s, false) {
		return 0, fmt.Errorf("quality: the eigendecomposition of S1^(1/2) S2 S1^(1/2) (dimension %d) did not converge", d)
	}
	trRoot := 0.0
	for _, l := range eig.Values(nil) {
		trRoot += math.Sqrt(max(l, 0))
	}
	dist := 0.0
	for i := range d {
		e := a.Mean[i] - b.Mean[i]
		dist += e * e
	}
	dist += mat.Trace(a.Cov) + mat.Trace(b.Cov) - 2*trRoot
	return max(dist, 0), nil
}

// eigenPSD decomposes s, which should be positive semi-definite, with or
// without eigenvectors; its eigenvalues are returned in ascending order.
func eigenPSD(s *mat.SymDense, vectors bool, what string) (*mat.EigenSym, []float64, error) {
	var eig mat.EigenSym
	if !eig.Factorize(s, vectors) {
		return nil, nil, fmt.Errorf("quality: %s: the eigendecomposition of the %d x %d covariance did not converge", what, s.SymmetricDim(), s.SymmetricDim())
	}
	l := eig.Values(nil)
	largest := max(math.Abs(l[0]), math.Abs(l[len(l)-1]))
	// Round-off moves eigenvalues by about d*eps*||S||; 1e-9 relative is
	// far above that and far below anything a real covariance has.
	if l[0] < -1e-9*largest {
		return nil, nil, fmt.Errorf("quality: %s: covariance has eigenvalue %g (largest %g); want a positive semi-definite matrix", what, l[0], largest)
	}
	return &eig, l, nil
}

// sqrtPSD returns the symmetric square root V diag(sqrt(l)) V^T of a
// positive semi-definite matrix with eigendecomposition V diag(l) V^T.
func sqrtPSD(s *mat.SymDense, what string) (*mat.SymDense, error) {
	eig, l, err := eigenPSD(s, true, what)
	if err != nil {
		return nil, err
	}
	var v mat.Dense
	eig.VectorsTo(&v)
	// V diag(sqrt(l)) V^T = W W^T with W = V diag(l^(1/4)), which is
	// symmetric by construction.
	for j, lj := range l {
		q := math.Sqrt(math.Sqrt(max(lj, 0)))
		for i := range len(l) {
			v.Set(i, j, v.At(i, j)*q)
		}
	}
	var root mat.SymDense
	root.SymOuterK(1, &v)
	return &root, nil
}
