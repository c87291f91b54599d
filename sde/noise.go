package sde

import (
	"fmt"
	"math"

	"github.com/scoregen/scoregen/internal/philox"
)

// Philox streams (counter word 1) of the random numbers drawn here. They
// keep every draw of a run apart: nn's dropout layers use streams 1, 2, 3,
// ... under the same seed and step, so these sit far from them.
const (
	StreamTime      uint32 = 0x5DE00001 // Perturb: t ~ U(eps, 1)
	StreamNoise     uint32 = 0x5DE00002 // Perturb: z ~ N(0, I)
	StreamPrior     uint32 = 0x5DE00003 // samplers: x(T) ~ prior
	StreamPredictor uint32 = 0x5DE00004 // samplers: Euler–Maruyama noise
	StreamCorrector uint32 = 0x5DE00005 // samplers: Langevin corrector noise
	StreamLangevin  uint32 = 0x5DE00006 // Langevin: unadjusted Langevin noise
	StreamProbe     uint32 = 0x5DE00007 // Likelihood: Hutchinson's probes
	StreamDequant   uint32 = 0x5DE00008 // Dequantize: u ~ U(0, 1)
	StreamInpaint   uint32 = 0x5DE00009 // Inpaint: the known values' noise
	StreamUncond    uint32 = 0x5DE0000A // training: which labels are dropped
	StreamIndex     uint32 = 0x5DE0000B // consistency training: the pair's index n ~ U{1, ..., N-1}
)

// Perturb noises a training batch as score_sde's losses.py does: for each
// sample i a time t_i ~ U(eps, 1) and for each element z ~ N(0, I), then
// x_t = Mean(t_i) x0 + Std(t_i) z, drawing from the kernel p_t(x|x0)
// (appendix B) in one pass. x0 and xt are [batch*D], z is [batch*D] (the
// denoising target), t is [batch]. xt may alias x0.
//
// The random numbers are a pure function of (seed, step, index), so the same
// (seed, step) gives the same output on any machine and with any number of
// goroutines, and a CUDA kernel can reproduce them. With
// key = (low32(seed), high32(seed)) and s = (low32(step), high32(step)):
//
//	t_i  = eps + (1-eps) * philox.Uniform24(r[i%4]),
//	       r = philox((i/4, StreamTime, s), key), rounded to float32 and, if
//	       that rounding fell below eps, raised to the next float32;
//	z_j  = lane j%4 of (philox.NormalPair(r[0], r[1]), philox.NormalPair(r[2], r[3])),
//	       r = philox((j/4, StreamNoise, s), key), j = i*D + d the flat index,
//	       rounded to float32;
//	xt_j = Mean(t_i) x0_j + Std(t_i) z_j in float64 with t_i and z_j as
//	       stored, rounded to float32.
//
// uniform24 and normalPair are nn's (philox.go), and the counter layout is
// that of nn's dropout masks. Because t is keyed by the
// sample and z by the flat element, the first k samples of a batch do not
// depend on the batch size. Perturb panics if the slice lengths disagree.
func Perturb(s Marginal, x0, xt, z, t []float32, batch int, seed, step uint64, eps float64) {
	if batch < 1 || len(x0)%batch != 0 || len(xt) != len(x0) || len(z) != len(x0) || len(t) != batch {
		panic(fmt.Sprintf("sde.Perturb: batch %d with len(x0) %d, len(xt) %d, len(z) %d, len(t) %d",
			batch, len(x0), len(xt), len(z), len(t)))
	}
	if !(eps >= 0 && eps < 1) {
		panic(fmt.Sprintf("sde.Perturb: eps = %v, want 0 <= eps < 1", eps))
	}
	d := len(x0) / batch
	key := philox.Key(seed)
	snap, discrete := s.(interface{ snap(float32) float32 })
	parallel(batch, len(x0), func(lo, hi int) {
		g := newNormals(seed, StreamNoise, step)
		for i := lo; i < hi; i++ {
			r := philox.Block(philox.Counter(i/4, StreamTime, step), key)
			ti := float32(eps + (1-eps)*philox.Uniform24(r[i%4]))
			if float64(ti) < eps {
				ti = math.Nextafter32(ti, 2)
			}
			if discrete { // DDPM: a step k uniform on 1..N
				ti = snap.snap(ti)
			}
			t[i] = ti
			m, sd := s.Mean(float64(ti)), s.Std(float64(ti))
			for j := i * d; j < (i+1)*d; j++ {
				zj := float32(g.at(j))
				z[j] = zj
				xt[j] = float32(m*float64(x0[j]) + sd*float64(zj))
			}
		}
	})
}

// Uniforms writes element off+i of (seed, stream, draw)'s uniforms in
// [0, 1) to dst[i]: lane e%4 of philox((e/4, stream, draw), key) with e =
// off+i, 24 bits (exact in float32).
func Uniforms(dst []float32, seed uint64, stream uint32, draw uint64, off int) {
	key := philox.Key(seed)
	for i := range dst {
		e := off + i
		r := philox.Block(philox.Counter(e/4, stream, draw), key)
		dst[i] = float32(philox.Uniform24(r[e%4]))
	}
}
