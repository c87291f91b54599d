package quality

import (
	"math"
	"math/cmplx"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// gaussian draws n vectors with independent coordinates of the given means
// and standard deviations.
func gaussian(rng *rand.Rand, n int, mean, sd []float64) Vectors {
	d := len(mean)
	v := Vectors{Data: make([]float64, n*d), D: d}
	for i := range v.Data {
		v.Data[i] = mean[i%d] + sd[i%d]*rng.NormFloat64()
	}
	return v
}

// correlated draws n vectors x = A z + mean with z ~ N(0, I): a full
// covariance A A^T.
func correlated(rng *rand.Rand, n, d int, scale float64) Vectors {
	a := make([]float64, d*d)
	for i := range a {
		a[i] = scale * rng.NormFloat64()
	}
	v := Vectors{Data: make([]float64, n*d), D: d}
	z := make([]float64, d)
	for i := range n {
		for j := range z {
			z[j] = rng.NormFloat64()
		}
		for r := range d {
			s := scale * float64(r)
			for c := range d {
				s += a[r*d+c] * z[c]
			}
			v.Data[i*d+r] = s
		}
	}
	return v
}

func shifted(v Vectors, delta []float64) Vectors {
	w := Vectors{Data: make([]float64, len(v.Data)), D: v.D}
	for i, x := range v.Data {
		w.Data[i] = x + delta[i%v.D]
	}
	return w
}

func sampleMean(v Vectors) []float64 {
	m := make([]float64, v.D)
	for i, x := range v.Data {
		m[i%v.D] += x / float64(v.N())
	}
	return m
}

func TestFrechetOfASetWithItselfIsZero(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := correlated(rng, 2000, 32, 100)
	fd, err := FrechetDistance(x, x)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := MomentsOf(x)
	// Against the scale of the features: Tr(S) is the FD of x against a
	// point mass at its mean. The square roots of the smallest eigenvalues
	// carry about sqrt(eps) of the largest, hence 1e-7 rather than 1e-15.
	tr := mat.Trace(m.Cov)
	t.Logf("FD(x, x) = %g, Tr(S) = %g", fd, tr)
	if fd > 1e-7*tr {
		t.Errorf("FD(x, x) = %g; want 0 within 1e-7 of Tr(S) = %g", fd, tr)
	}
}

// Shifting a set moves only its mean: FD(x, z + delta) - FD(x, z) =
// ||mu_x - mu_z - delta||^2 - ||mu_x - mu_z||^2, which is ||delta||^2 for z = x.
func TestFrechetShiftAddsTheSquaredMeanChange(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const d = 16
	x, z := correlated(rng, 3000, d, 1), correlated(rng, 3000, d, 1)
	delta := make([]float64, d)
	for i := range delta {
		delta[i] = rng.NormFloat64()
	}
	fdXX, _ := FrechetDistance(x, shifted(x, delta))
	fdXZ, _ := FrechetDistance(x, z)
	fdXZd, err := FrechetDistance(x, shifted(z, delta))
	if err != nil {
		t.Fatal(err)
	}
	mx, mz := sampleMean(x), sampleMean(z)
	var dd, cross float64
	for i := range delta {
		dd += delta[i] * delta[i]
		cross += delta[i] * (mx[i] - mz[i])
	}
	if math.Abs(fdXX-dd) > 1e-9*dd {
		t.Errorf("FD(x, x+delta) = %.12g; want ||delta||^2 = %.12g", fdXX, dd)
	}
	if want := fdXZ + dd - 2*cross; math.Abs(fdXZd-want) > 1e-9*want {
		t.Errorf("FD(x, z+delta) = %.12g; want FD(x, z) + ||delta||^2 - 2 delta.(mu_x - mu_z) = %.12g", fdXZd, want)
	}
}

// diagMoments are the population moments of independent coordinates.
func diagMoments(mean, variance []float64) Moments {
	c := mat.NewSymDense(len(variance), nil)
	for i, v := range variance {
		c.SetSym(i, i, v)
	}
	return Moments{Mean: mean, Cov: c}
}

func TestFrechetOnPopulationMoments(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const d = 12
	mu1, mu2, s1, s2 := make([]float64, d), make([]float64, d), make([]float64, d), make([]float64, d)
	want := 0.0
	for i := range d {
		mu1[i], mu2[i] = rng.NormFloat64(), rng.NormFloat64()
		s1[i], s2[i] = rng.ExpFloat64(), rng.ExpFloat64()
		want += (mu1[i]-mu2[i])*(mu1[i]-mu2[i]) + (math.Sqrt(s1[i])-math.Sqrt(s2[i]))*(math.Sqrt(s1[i])-math.Sqrt(s2[i]))
	}
	// Diagonal: the closed form sum (sqrt(s1) - sqrt(s2))^2 + ||mu1 - mu2||^2.
	got, err := Frechet(diagMoments(mu1, s1), diagMoments(mu2, s2))
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got-want) > 1e-10*want {
		t.Errorf("diagonal: FD %.15g; want %.15g", got, want)
	}
	// Commuting: the same spectra in a random orthonormal basis Q have the
	// same FD, since S1 = Q D1 Q^T, S2 = Q D2 Q^T are simultaneously diagonal.
	var qr mat.QR
	qr.Factorize(mat.NewDense(d, d, gaussian(rng, d, make([]float64, d), ones(d)).Data))
	var q mat.Dense
	qr.QTo(&q)
	rotate := func(s []float64) *mat.SymDense {
		var t, r mat.Dense
		t.Mul(&q, mat.NewDiagDense(d, s))
		r.Mul(&t, q.T())
		return symOf(&r)
	}
	got, err = Frechet(Moments{mu1, rotate(s1)}, Moments{mu2, rotate(s2)})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got-want) > 1e-9*want {
		t.Errorf("commuting: FD %.15g; want %.15g", got, want)
	}
}

func ones(d int) []float64 {
	o := make([]float64, d)
	for i := range o {
		o[i] = 1
	}
	return o
}

// symOf is the symmetric part of a matrix that is symmetric up to round-off.
func symOf(a *mat.Dense) *mat.SymDense {
	n, _ := a.Dims()
	s := mat.NewSymDense(n, nil)
	for i := range n {
		for j := i; j < n; j++ {
			s.SetSym(i, j, (a.At(i, j)+a.At(j, i))/2)
		}
	}
	return s
}

// Non-commuting covariances, checked by two other routes: for 2 x 2,
// Tr sqrt(M) = sqrt(Tr M + 2 sqrt(det M)) with Tr M = Tr(S1 S2) and
// det M = det S1 det S2; in general, Tr sqrt(S1^(1/2) S2 S1^(1/2)) is the
// sum of the square roots of the (real, non-negative) eigenvalues of the
// non-symmetric S1 S2, the route of the reference FID code.
func TestFrechetNonCommuting(t *testing.T) {
	s1 := mat.NewSymDense(2, []float64{2, 0.7, 0.7, 1})
	s2 := mat.NewSymDense(2, []float64{0.5, -0.3, -0.3, 3})
	mu1, mu2 := []float64{1, -1}, []float64{0.5, 2}
	var p mat.Dense
	p.Mul(s1, s2)
	trRoot := math.Sqrt(mat.Trace(&p) + 2*math.Sqrt(mat.Det(s1)*mat.Det(s2)))
	want := 0.25 + 9 + mat.Trace(s1) + mat.Trace(s2) - 2*trRoot
	got, err := Frechet(Moments{mu1, s1}, Moments{mu2, s2})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got-want) > 1e-12*want {
		t.Errorf("2x2: FD %.15g; want %.15g", got, want)
	}

	rng := rand.New(rand.NewPCG(7, 8))
	const d = 20
	a, _ := MomentsOf(correlated(rng, 400, d, 1))
	b, _ := MomentsOf(correlated(rng, 400, d, 1))
	p.Reset()
	p.Mul(a.Cov, b.Cov)
	var eig mat.Eigen
	if !eig.Factorize(&p, mat.EigenNone) {
		t.Fatal("eigendecomposition of S1 S2 failed")
	}
	want = mat.Trace(a.Cov) + mat.Trace(b.Cov)
	for _, l := range eig.Values(nil) {
		want -= 2 * real(cmplx.Sqrt(l))
	}
	for i := range d {
		want += (a.Mean[i] - b.Mean[i]) * (a.Mean[i] - b.Mean[i])
	}
	got, err = Frechet(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got-want) > 1e-9*want {
		t.Errorf("d=%d: FD %.15g; want %.15g", d, got, want)
	}
}

// On samples the FD estimates the closed form up to sampling error. Per
// coordinate, the sample mean errs by sd sqrt(s/n) and sqrt of the sample
// variance by sqrt(s/(2n)), so the closed form's terms err by about
// 2|mu1-mu2| sqrt((s1+s2)/n) and 2|sqrt(s1)-sqrt(s2)| sqrt((s1+s2)/(2n));
// on top, the estimate is biased upwards by O(d^2 s/n) (sampled
// off-diagonal covariances, squared means). Five of those sds plus that bias.
func TestFrechetOfGaussianSamples(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	const n, d = 40000, 6
	mu1, mu2, s1, s2 := make([]float64, d), make([]float64, d), make([]float64, d), make([]float64, d)
	want, variance, smax := 0.0, 0.0, 0.0
	for i := range d {
		mu1[i], mu2[i] = rng.NormFloat64(), rng.NormFloat64()
		s1[i], s2[i] = 0.5+rng.ExpFloat64(), 0.5+rng.ExpFloat64()
		dm, ds := mu1[i]-mu2[i], math.Sqrt(s1[i])-math.Sqrt(s2[i])
		want += dm*dm + ds*ds
		e1 := 2 * math.Abs(dm) * math.Sqrt((s1[i]+s2[i])/n)
		e2 := 2 * math.Abs(ds) * math.Sqrt((s1[i]+s2[i])/(2*n))
		variance += e1*e1 + e2*e2
		smax = max(smax, s1[i], s2[i])
	}
	sd1, sd2 := make([]float64, d), make([]float64, d)
	for i := range d {
		sd1[i], sd2[i] = math.Sqrt(s1[i]), math.Sqrt(s2[i])
	}
	got, err := FrechetDistance(gaussian(rng, n, mu1, sd1), gaussian(rng, n, mu2, sd2))
	if err != nil {
		t.Fatal(err)
	}
	tol := 5*math.Sqrt(variance) + 2*d*d*smax/n
	t.Logf("FD %.5f, closed form %.5f, tolerance %.5f", got, want, tol)
	if math.Abs(got-want) > tol {
		t.Errorf("FD %.5f; want the closed form %.5f within %.5f", got, want, tol)
	}
}

func TestMomentsOfIsUnbiased(t *testing.T) {
	m, err := MomentsOf(Vectors{Data: []float64{1, 10, 3, 10, 5, 40}, D: 2})
	if err != nil {
		t.Fatal(err)
	}
	// Means 3 and 20; deviations (-2, 0, 2) and (-10, -10, 20), over n-1 = 2.
	want := []float64{3, 20, 4, 30, 300}
	got := []float64{m.Mean[0], m.Mean[1], m.Cov.At(0, 0), m.Cov.At(0, 1), m.Cov.At(1, 1)}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12*math.Abs(want[i]) {
			t.Errorf("mean, var, cov, var = %v; want %v", got, want)
			break
		}
	}
}

func TestFrechetErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	good := correlated(rng, 50, 4, 1)
	withValue := func(x float64) Vectors {
		v := Vectors{Data: append([]float64(nil), good.Data...), D: 4}
		v.Data[7] = x
		return v
	}
	for _, c := range []struct {
		name string
		a, b Vectors
		want string
	}{
		{"n = d", good, Vectors{Data: good.Data[:16], D: 4}, "second set: 4 vectors of dimension 4 give a singular covariance"},
		{"n < d", Vectors{Data: good.Data[:12], D: 4}, good, "first set: 3 vectors of dimension 4"},
		{"no vectors", Vectors{D: 4}, good, "first set: 0 vectors"},
		{"dimensions differ", good, Vectors{Data: good.Data[:198], D: 2}, "first set has dimension 4, second set 2"},
		{"ragged", good, Vectors{Data: good.Data[:199], D: 4}, "199 values are not whole vectors of dimension 4"},
		{"zero dimension", good, Vectors{Data: good.Data, D: 0}, "dimension 0; want at least 1"},
		{"NaN", withValue(math.NaN()), good, "first set: vector 1, element 3 is NaN"},
		{"Inf", good, withValue(math.Inf(-1)), "second set: vector 1, element 3 is -Inf"},
	} {
		_, err := FrechetDistance(c.a, c.b)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v; want one line containing %q", c.name, err, c.want)
		}
	}

	psd := diagMoments([]float64{0, 0}, []float64{1, 2})
	for _, c := range []struct {
		name string
		a, b Moments
		want string
	}{
		{"not PSD", psd, diagMoments([]float64{0, 0}, []float64{1, -0.5}), "second set: covariance has eigenvalue -0.5"},
		{"dimensions differ", psd, diagMoments([]float64{0}, []float64{1}), "moments of dimension 2 and 1"},
		{"no covariance", psd, Moments{Mean: []float64{0, 0}}, "moments of dimension 2 and 2"},
		{"empty", Moments{}, Moments{}, "moments of dimension 0 and 0"},
	} {
		_, err := Frechet(c.a, c.b)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v; want one containing %q", c.name, err, c.want)
		}
	}
}

// A tiny negative eigenvalue from round-off is zero, not an error: an
// exactly singular covariance (a feature that never varies, as a dead ReLU
// unit gives) still has a distance.
func TestFrechetSingularCovarianceFromConstantFeature(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	x := correlated(rng, 500, 8, 1)
	y := correlated(rng, 500, 8, 1)
	for i := range 500 {
		x.Data[i*8+3], y.Data[i*8+3] = 0.7, 0.7
	}
	if _, err := FrechetDistance(x, y); err != nil {
		t.Errorf("constant feature: %v", err)
	}
}
