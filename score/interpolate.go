package score

import (
	"fmt"
	"math"

	"github.com/scoregen/scoregen/model"
	"github.com/scoregen/scoregen/sde"
)

// Interpolate encodes each pair of images (a[i], b[i]; n pairs of NCHW
// images in [-1, 1]) to the prior's latents with the probability-flow ODE
// (from t = sample.eps to 1, RK45 with sample.rtol and sample.atol),
// interpolates each pair's latents spherically at points evenly spaced
// weights from 0 to 1 (slerp, which keeps a Gaussian latent's norm), and
// decodes them back: n*points images, pair by pair, clipped to [-1, 1].
// The ends reconstruct the pair. A class-conditional network encodes and
// decodes with "no label". It is model.Interpolator.
func (f *Family) Interpolate(w model.Weights, a, b []float32, n, points int, o model.SampleOptions) ([]float32, error) {
	if err := f.continuous(); err != nil {
		return nil, fmt.Errorf("interpolation needs a continuous SDE: %w", err)
	}
	d := f.Net.Channels * f.Net.Height * f.Net.Width
	if points < 2 {
		return nil, fmt.Errorf("%d interpolation points, want at least 2 (the two ends)", points)
	}
	if n < 1 || len(a) != n*d || len(b) != n*d {
		return nil, fmt.Errorf("%d pairs of %d and %d values, want %d images of %d each", n, len(a), len(b), n, d)
	}
	s, err := f.NewSampler(w, points, o)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	m := s.(*ScoreModel)
	m.Unconditional = true // the ODE of p(x), whatever the class
	tol := sde.Tolerances{RTol: o.Sample.RTol, ATol: o.Sample.ATol}
	out := make([]float32, n*points*d)
	x := make([]float32, points*d)
	for i := range n {
		// Encode the pair in one batch, the other places repeating b.
		copy(x, a[i*d:(i+1)*d])
		for k := 1; k < points; k++ {
			copy(x[k*d:(k+1)*d], b[i*d:(i+1)*d])
		}
		if _, err := sde.Flow(f.SDE, m.Score, x, points, o.Sample.Eps, 1, tol); err != nil {
			return nil, fmt.Errorf("encoding pair %d: %w", i, err)
		}
		z0, z1 := append([]float32(nil), x[:d]...), append([]float32(nil), x[d:2*d]...)
		for k := range points {
			slerp(x[k*d:(k+1)*d], z0, z1, float64(k)/float64(points-1))
		}
		if _, err := sde.Flow(f.SDE, m.Score, x, points, 1, o.Sample.Eps, tol); err != nil {
			return nil, fmt.Errorf("decoding pair %d: %w", i, err)
		}
		for j, v := range x {
			out[i*points*d+j] = min(max(v, -1), 1)
		}
	}
	return out, nil
}

// slerp writes the spherical interpolation of z0 and z1 at weight alpha:
// (sin((1-alpha) theta) z0 + sin(alpha theta) z1) / sin theta, with theta
// the angle between them (a straight line where they are parallel).
func slerp(dst, z0, z1 []float32, alpha float64) {
	var dot, n0, n1 float64
	for j := range z0 {
		dot += float64(z0[j]) * float64(z1[j])
		n0 += float64(z0[j]) * float64(z0[j])
		n1 += float64(z1[j]) * float64(z1[j])
	}
	theta := math.Acos(max(-1, min(1, dot/math.Sqrt(n0*n1))))
	c0, c1 := 1-alpha, alpha
	if st := math.Sin(theta); st > 1e-6 {
		c0, c1 = math.Sin((1-alpha)*theta)/st, math.Sin(alpha*theta)/st
	}
	for j := range dst {
		dst[j] = float32(c0*float64(z0[j]) + c1*float64(z1[j]))
	}
}
