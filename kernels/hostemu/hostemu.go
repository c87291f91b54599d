// Package hostemu runs the CUDA kernels of kernels/ on the CPU (emu.h):
// grid-stride kernels one element at a time, and the block reductions with
// a thread per CUDA thread. Tests without a GPU check them against the CPU
// ops: indexing, reductions, Philox draws. It exists for tests; nothing
// else imports it.
//
// The Go build cache does not see changes to ../*.cu (cgo tracks only this
// folder's files): after editing a kernel, run its tests with
// `go clean -cache` or `go test -a`. CI builds from scratch.
package hostemu

// #cgo CXXFLAGS: -O1 -std=c++20
// #cgo LDFLAGS: -pthread
// #include <stdint.h>
// void im2col(float *col, const float *x, int n0, int nb, int c, int h, int w, int kh, int kw, int oh, int ow, int stride, int pad);
// void col2im(float *dx, const float *dcol, int n0, int nb, int c, int h, int w, int kh, int kw, int oh, int ow, int stride, int pad);
// void gather(float *ycol, const float *y, int n0, int nb, int k, long long P);
// void scatter(float *y, const float *ycol, const float *bias, int n0, int nb, int k, long long P);
// void upsample2x(float *y, const float *x, long long planes, int h, int w);
// void upsample2x_bwd(float *dx, const float *g, long long planes, int h, int w);
// void copy_rows(float *dst, const float *src, long long rows, long long len, long long dstride, long long doff, long long sstride, long long soff);
// void dropout(float *y, const float *x, long long n, uint32_t thr, float scale, const uint64_t *seed, uint32_t stream, const uint64_t *step);
// void uniform_like(float *y, long long n, const uint64_t *seed, uint32_t stream, const uint64_t *step);
// void normal_like(float *y, long long n, const uint64_t *seed, uint32_t stream, const uint64_t *step);
// void bernoulli(float *y, const float *p, long long n, const uint64_t *seed, uint32_t stream, const uint64_t *step);
// void perturb(float *xt, float *z, float *t, const float *x0, int batch, long long d, int kind, double a, double b, const double *log_abar, int n, double eps, uint64_t seed, const uint64_t *step);
// void label_drop(float *keep, float *null, int batch, double p, uint64_t seed, const uint64_t *step);
// void normals(float *y, long long n, double sd, uint64_t seed, uint32_t stream, uint64_t draw, long long off);
// void em_step(float *x, const float *eps_hat, long long n, const void *ctl);
// void level_step(float *x, const float *eps_hat, long long n, const void *ctl);
// void ode_begin(float *x, double *y, long long n, double m0);
// void ode_step(float *x, double *y, double *d1, const float *eps_hat, long long n, const void *ctl);
// void langevin_noise(float *z, long long n, const void *ctl);
// void ct_sample_in(float *x, float *v, long long n, const void *ctl);
// void ct_sample_out(float *x, const float *v, const float *out, long long n, const void *ctl);
// void act_fwd(float *y, const float *x, long long n, int act, float slope);
// void act_bwd(float *dx, const float *x, const float *dy, long long n, int act, float slope);
// void act_bwd2(float *out, const float *x, const float *dy, const float *g, long long n, int act, float slope);
// void binary(float *y, const float *a, const float *b, long long n, int op, int d1, int d2, int d3, int a0, int a1, int a2, int a3, int b0, int b1, int b2, int b3);
// void expand(float *y, const float *x, long long n, float f, int d1, int d2, int d3, int s0, int s1, int s2, int s3);
// void sinusoidal_fwd(float *y, const float *t, int batch, int dim, double scale);
// void emu_gn_fwd(int grid, int block, float *y, const float *x, const float *gamma, const float *beta, int groups, int d, int s, double eps, int act);
// void emu_gn_bwd_x(int grid, int block, float *dx, const float *x, const float *gamma, const float *beta, const float *dy, int groups, int d, int s, double eps, int act);
// void emu_gn_stats(int grid, int block, float *stats, const float *x, int d, int s, double eps);
// void emu_gn_bwd_affine(int grid, int block, float *out, const float *x, const float *gamma, const float *beta, const float *dy, const float *stats, int n, int c, int groups, int s, int act);
// void emu_bn_fwd(int grid, int block, float *y, const float *x, const float *gamma, const float *beta, int n, int c, int s, double eps);
// void emu_bn_bwd_x(int grid, int block, float *dx, const float *x, const float *gamma, const float *dy, int n, int c, int s, double eps);
// void emu_bn_bwd_affine(int grid, int block, float *out, const float *x, const float *dy, int n, int c, int s, double eps);
// void emu_bn_moments(int grid, int block, float *out, const float *x, int n, int c, int s);
// void bn_infer(float *y, const float *x, const float *gamma, const float *beta, const float *mean, const float *var, long long n, int c, int s, double eps);
// void emu_softmax_fwd(int grid, int block, float *y, const float *x, int n);
// void emu_softmax_bwd(int grid, int block, float *dx, const float *y, const float *g, int n);
// void emu_softmax_ce_fwd(int grid, int block, float *out, const float *l, const float *t, int n, int k);
// void softmax_ce_bwd(float *d, const float *l, const float *t, const float *g, int n, int k, int wrt);
// void emu_accuracy(int grid, int block, float *out, const float *l, const float *t, int n, int k);
// void emu_reduce_to(int grid, int block, float *y, const float *x, float f, const int *k, long long rn);
// void emu_mse(int grid, int block, float *out, const float *a, const float *b, long long n);
// void emu_pseudo_huber(int grid, int block, float *out, const float *a, const float *b, const float *w, int batch, long long d, double c);
// void emu_pseudo_huber_bwd(int grid, int block, float *out, const float *a, const float *b, const float *w, const float *g, long long d, double c, int wrt);
// void emu_sinusoidal_bwd(int grid, int block, float *dt, const float *t, const float *g, int dim, double scale);
// void emu_norm_sq(int grid, int block, double *norm, double *partial, unsigned int *done, const float *arena, const long long *grad, const long long *size, const int *chunk_tensor, const long long *chunk_start, int chunks);
// void emu_adam(int grid, int block, float *arena, float *m, float *v, const double *norm, const float *loss, const void *ctl, const long long *param, const long long *grad, const long long *flat, const long long *size, const int *chunk_tensor, const long long *chunk_start, float beta1, float beta2, float eps, double max_norm);
// void emu_ema(int grid, int block, float *shadow, const float *arena, const double *norm, const float *loss, const void *ctl, const long long *param, const long long *flat, const long long *size, const int *chunk_tensor, const long long *chunk_start);
// void emu_follow(int grid, int block, float *arena, const double *norm, const float *loss, const double *keep_take, const long long *value, const long long *batch, const long long *size, const int *chunk_tensor, const long long *chunk_start);
// void ct_pair(float *on_x, float *on_t, float *on_skip, float *on_out, float *tg_x, float *tg_t, float *tg_skip, float *tg_out, float *weight, const float *x0, int batch, long long d, const double *times, const double *cdf, int s0, int s1, long long K, long long kprime, double eps, double sigma_data, uint64_t seed, const uint64_t *step);
// void emu_langevin_norms(int grid, int block, double *norms, const float *eps_hat, const float *z, long long d, const void *ctl);
// void emu_langevin_step(int grid, int block, float *x, const float *eps_hat, const float *z, const double *norms, int batch, long long n, const void *ctl, double *bad);
import "C"

import (
	"unsafe"

	"github.com/scoregen/scoregen/sde"
)

func p(s []float32) *C.float {
	if len(s) == 0 {
		return nil
	}
	return (*C.float)(unsafe.Pointer(&s[0]))
}

// ConvGeom is a convolution's shape, as the conv kernels take it.
type ConvGeom struct{ C, H, W, KH, KW, OH, OW, Stride, Pad int }

// Im2col runs kernels/conv.cu's im2col for images [n0, n0+nb).
func Im2col(col, x []float32, n0, nb int, g ConvGeom) {
	C.im2col(p(col), p(x), C.int(n0), C.int(nb), C.int(g.C), C.int(g.H), C.int(g.W), C.int(g.KH), C.int(g.KW), C.int(g.OH), C.int(g.OW), C.int(g.Stride), C.int(g.Pad))
}

// Col2im runs kernels/conv.cu's col2im.
func Col2im(dx, dcol []float32, n0, nb int, g ConvGeom) {
	C.col2im(p(dx), p(dcol), C.int(n0), C.int(nb), C.int(g.C), C.int(g.H), C.int(g.W), C.int(g.KH), C.int(g.KW), C.int(g.OH), C.int(g.OW), C.int(g.Stride), C.int(g.Pad))
}

// Gather runs kernels/conv.cu's gather.
func Gather(ycol, y []float32, n0, nb, k, P int) {
	C.gather(p(ycol), p(y), C.int(n0), C.int(nb), C.int(k), C.longlong(P))
}

// Scatter runs kernels/conv.cu's scatter; bias may be nil.
func Scatter(y, ycol, bias []float32, n0, nb, k, P int) {
	C.scatter(p(y), p(ycol), p(bias), C.int(n0), C.int(nb), C.int(k), C.longlong(P))
}

// Upsample2x and Upsample2xBwd run kernels/shape.cu's upsampling.
func Upsample2x(y, x []float32, planes, h, w int) {
	C.upsample2x(p(y), p(x), C.longlong(planes), C.int(h), C.int(w))
}

func Upsample2xBwd(dx, g []float32, planes, h, w int) {
	C.upsample2x_bwd(p(dx), p(g), C.longlong(planes), C.int(h), C.int(w))
}

// CopyRows runs kernels/shape.cu's copy_rows.
func CopyRows(dst, src []float32, rows, n, dstride, doff, sstride, soff int) {
	C.copy_rows(p(dst), p(src), C.longlong(rows), C.longlong(n), C.longlong(dstride), C.longlong(doff), C.longlong(sstride), C.longlong(soff))
}

// Dropout runs kernels/dropout.cu.
func Dropout(y, x []float32, thr uint32, scale float32, seed uint64, stream uint32, step uint64) {
	s, st := C.uint64_t(seed), C.uint64_t(step)
	C.dropout(p(y), p(x), C.longlong(len(x)), C.uint32_t(thr), C.float(scale), &s, C.uint32_t(stream), &st)
}

// UniformLike runs kernels/uniform.cu.
func UniformLike(y []float32, seed uint64, stream uint32, step uint64) {
	s, st := C.uint64_t(seed), C.uint64_t(step)
	C.uniform_like(p(y), C.longlong(len(y)), &s, C.uint32_t(stream), &st)
}

// NormalLike runs kernels/random.cu's normal_like.
func NormalLike(y []float32, seed uint64, stream uint32, step uint64) {
	s, st := C.uint64_t(seed), C.uint64_t(step)
	C.normal_like(p(y), C.longlong(len(y)), &s, C.uint32_t(stream), &st)
}

// Bernoulli runs kernels/random.cu's bernoulli.
func Bernoulli(y, prob []float32, seed uint64, stream uint32, step uint64) {
	s, st := C.uint64_t(seed), C.uint64_t(step)
	C.bernoulli(p(y), p(prob), C.longlong(len(prob)), &s, C.uint32_t(stream), &st)
}

// Perturb runs kernels/sde.cu's noising for the SDE that k names, with the
// arguments gpu.Backend.Perturb passes: DDPM's table and its N, or for the
// other kinds a null table and 0.
func Perturb(xt, z, t, x0 []float32, k sde.Kernel, eps float64, seed, step uint64) {
	st := C.uint64_t(step)
	var table *C.double
	if len(k.LogAbar) > 0 {
		table = (*C.double)(&k.LogAbar[0])
	}
	C.perturb(p(xt), p(z), p(t), p(x0), C.int(len(t)), C.longlong(len(x0)/len(t)), C.int(k.Kind), C.double(k.A), C.double(k.B),
		table, C.int(max(len(k.LogAbar)-1, 0)), C.double(eps), C.uint64_t(seed), &st)
}

// LabelDrop runs kernels/sde.cu's label_drop over a batch of len(keep).
func LabelDrop(keep, null []float32, prob float64, seed, step uint64) {
	st := C.uint64_t(step)
	C.label_drop(p(keep), p(null), C.int(len(keep)), C.double(prob), C.uint64_t(seed), &st)
}

// Normals runs kernels/sde.cu's normals from element off of the draw on.
func Normals(y []float32, sd float64, seed uint64, stream uint32, draw uint64, off int) {
	C.normals(p(y), C.longlong(len(y)), C.double(sd), C.uint64_t(seed), C.uint32_t(stream), C.uint64_t(draw), C.longlong(off))
}

// SamplerCtl is kernels/sde.cu's sampler_ctl, field by field.
type SamplerCtl struct {
	T, F, G2, DT, Noise float64
	Last                int64
	Draw                uint64
	ScoreScale          float64
	Mode                int64
	Seed                uint64
	SNR, Alpha          float64
	Offset              int64
	A, B, C             float64
	Phase               int64
	K, H, MNext         float64
	Stream              uint64
}

// EMStep runs kernels/sde.cu's em_step.
func EMStep(x, epsHat []float32, ctl *SamplerCtl) {
	C.em_step(p(x), p(epsHat), C.longlong(len(x)), unsafe.Pointer(ctl))
}

// LevelStep runs kernels/sde.cu's level_step.
func LevelStep(x, epsHat []float32, ctl *SamplerCtl) {
	C.level_step(p(x), p(epsHat), C.longlong(len(x)), unsafe.Pointer(ctl))
}

// ODEBegin and ODEStep run kernels/sde.cu's ode_begin and ode_step, with
// the state y and first slope d1 (doubles, as many as x).
func ODEBegin(x []float32, y []float64, m0 float64) {
	C.ode_begin(p(x), (*C.double)(&y[0]), C.longlong(len(x)), C.double(m0))
}

func ODEStep(x []float32, y, d1 []float64, epsHat []float32, ctl *SamplerCtl) {
	C.ode_step(p(x), (*C.double)(&y[0]), (*C.double)(&d1[0]), p(epsHat), C.longlong(len(x)), unsafe.Pointer(ctl))
}

// ConsistencySampleIn and ConsistencySampleOut run kernels/sde.cu's
// ct_sample_in and ct_sample_out, with the point v (as many as x).
func ConsistencySampleIn(x, v []float32, ctl *SamplerCtl) {
	C.ct_sample_in(p(x), p(v), C.longlong(len(x)), unsafe.Pointer(ctl))
}

func ConsistencySampleOut(x, v, out []float32, ctl *SamplerCtl) {
	C.ct_sample_out(p(x), p(v), p(out), C.longlong(len(x)), unsafe.Pointer(ctl))
}

// LangevinNoise runs kernels/sde.cu's langevin_noise.
func LangevinNoise(z []float32, ctl *SamplerCtl) {
	C.langevin_noise(p(z), C.longlong(len(z)), unsafe.Pointer(ctl))
}

// Launch is a grid of blocks of threads, as a launcher picks them.
type Launch struct{ Grid, Block int }

func (l Launch) c() (C.int, C.int) { return C.int(l.Grid), C.int(l.Block) }

// GroupNorm's kernels (kernels/norm.cu).
func GNFwd(l Launch, y, x, gamma, beta []float32, groups, d, s int, eps float64, act int) {
	g, b := l.c()
	C.emu_gn_fwd(g, b, p(y), p(x), p(gamma), p(beta), C.int(groups), C.int(d), C.int(s), C.double(eps), C.int(act))
}

func GNBwdX(l Launch, dx, x, gamma, beta, dy []float32, groups, d, s int, eps float64, act int) {
	g, b := l.c()
	C.emu_gn_bwd_x(g, b, p(dx), p(x), p(gamma), p(beta), p(dy), C.int(groups), C.int(d), C.int(s), C.double(eps), C.int(act))
}

func GNStats(l Launch, stats, x []float32, d, s int, eps float64) {
	g, b := l.c()
	C.emu_gn_stats(g, b, p(stats), p(x), C.int(d), C.int(s), C.double(eps))
}

func GNBwdAffine(l Launch, out, x, gamma, beta, dy, stats []float32, n, c, groups, s, act int) {
	g, b := l.c()
	C.emu_gn_bwd_affine(g, b, p(out), p(x), p(gamma), p(beta), p(dy), p(stats), C.int(n), C.int(c), C.int(groups), C.int(s), C.int(act))
}

// BatchNorm's kernels (kernels/batchnorm.cu), over n samples of c channels
// of s pixels.
func BNFwd(l Launch, y, x, gamma, beta []float32, n, c, s int, eps float64) {
	g, b := l.c()
	C.emu_bn_fwd(g, b, p(y), p(x), p(gamma), p(beta), C.int(n), C.int(c), C.int(s), C.double(eps))
}

func BNBwdX(l Launch, dx, x, gamma, dy []float32, n, c, s int, eps float64) {
	g, b := l.c()
	C.emu_bn_bwd_x(g, b, p(dx), p(x), p(gamma), p(dy), C.int(n), C.int(c), C.int(s), C.double(eps))
}

func BNBwdAffine(l Launch, out, x, dy []float32, n, c, s int, eps float64) {
	g, b := l.c()
	C.emu_bn_bwd_affine(g, b, p(out), p(x), p(dy), C.int(n), C.int(c), C.int(s), C.double(eps))
}

func BNMoments(l Launch, out, x []float32, n, c, s int) {
	g, b := l.c()
	C.emu_bn_moments(g, b, p(out), p(x), C.int(n), C.int(c), C.int(s))
}

// BNInfer runs kernels/batchnorm.cu's eval-mode bn_infer.
func BNInfer(y, x, gamma, beta, mean, variance []float32, c, s int, eps float64) {
	C.bn_infer(p(y), p(x), p(gamma), p(beta), p(mean), p(variance), C.longlong(len(x)), C.int(c), C.int(s), C.double(eps))
}

// Softmax's kernels (kernels/softmax.cu).
func SoftmaxFwd(l Launch, y, x []float32, n int) {
	g, b := l.c()
	C.emu_softmax_fwd(g, b, p(y), p(x), C.int(n))
}

func SoftmaxBwd(l Launch, dx, y, grad []float32, n int) {
	g, b := l.c()
	C.emu_softmax_bwd(g, b, p(dx), p(y), p(grad), C.int(n))
}

// SoftmaxCEFwd and SoftmaxCEBwd run kernels/crossentropy.cu over n rows
// of k classes.
func SoftmaxCEFwd(l Launch, out, logits, targets []float32, n, k int) {
	g, b := l.c()
	C.emu_softmax_ce_fwd(g, b, p(out), p(logits), p(targets), C.int(n), C.int(k))
}

func SoftmaxCEBwd(d, logits, targets, grad []float32, n, k, wrt int) {
	C.softmax_ce_bwd(p(d), p(logits), p(targets), p(grad), C.int(n), C.int(k), C.int(wrt))
}

// Accuracy runs kernels/crossentropy.cu's accuracy.
func Accuracy(l Launch, out, logits, targets []float32, n, k int) {
	g, b := l.c()
	C.emu_accuracy(g, b, p(out), p(logits), p(targets), C.int(n), C.int(k))
}

// ReduceTo runs kernels/reduce.cu's reduce_to; axes are its 14 integer
// arguments from k1 to rs3.
func ReduceTo(l Launch, y, x []float32, f float32, axes [14]int32, rn int) {
	g, b := l.c()
	C.emu_reduce_to(g, b, p(y), p(x), C.float(f), (*C.int)(unsafe.Pointer(&axes[0])), C.longlong(rn))
}

// MSE runs kernels/reduce.cu's mse.
func MSE(l Launch, out, a, bv []float32) {
	g, b := l.c()
	C.emu_mse(g, b, p(out), p(a), p(bv), C.longlong(len(a)))
}

// PseudoHuber runs kernels/reduce.cu's pseudo_huber on len(w) samples.
func PseudoHuber(l Launch, out, a, bv, w []float32, c float64) {
	g, b := l.c()
	C.emu_pseudo_huber(g, b, p(out), p(a), p(bv), p(w), C.int(len(w)), C.longlong(len(a)/len(w)), C.double(c))
}

// PseudoHuberBwd runs kernels/reduce.cu's pseudo_huber_bwd (a block per
// sample) on len(w) samples.
func PseudoHuberBwd(l Launch, out, a, bv, w, grad []float32, c float64, wrt int) {
	g, b := l.c()
	C.emu_pseudo_huber_bwd(g, b, p(out), p(a), p(bv), p(w), p(grad), C.longlong(len(a)/len(w)), C.double(c), C.int(wrt))
}

// SinusoidalBwd runs kernels/embedding.cu's sinusoidal_bwd.
func SinusoidalBwd(l Launch, dt, t, grad []float32, dim int, scale float64) {
	g, b := l.c()
	C.emu_sinusoidal_bwd(g, b, p(dt), p(t), p(grad), C.int(dim), C.double(scale))
}

// Tables are the optimiser kernels' tensor and chunk tables
// (kernels/optim.cu).
type Tables struct {
	Param, Grad, Flat, Size []int64
	ChunkTensor             []int32
	ChunkStart              []int64
}

// StepCtl is kernels/optim.cu's step_ctl.
type StepCtl struct{ StepSize, SqrtC2, EMAKeep, EMATake float64 }

// NormSq runs kernels/optim.cu's norm_sq; partial has a slot per chunk and
// *done is its counter.
func NormSq(l Launch, norm *float64, partial []float64, done *uint32, arena []float32, t *Tables) {
	g, b := l.c()
	C.emu_norm_sq(g, b, (*C.double)(norm), (*C.double)(&partial[0]), (*C.uint)(done), p(arena),
		(*C.longlong)(&t.Grad[0]), (*C.longlong)(&t.Size[0]), (*C.int)(&t.ChunkTensor[0]), (*C.longlong)(&t.ChunkStart[0]), C.int(len(t.ChunkTensor)))
}

// Adam runs kernels/optim.cu's adam.
func Adam(l Launch, arena, m, v []float32, norm *float64, loss *float32, ctl *StepCtl, t *Tables, beta1, beta2, eps float32, maxNorm float64) {
	g, b := l.c()
	C.emu_adam(g, b, p(arena), p(m), p(v), (*C.double)(norm), (*C.float)(loss), unsafe.Pointer(ctl), (*C.longlong)(&t.Param[0]), (*C.longlong)(&t.Grad[0]),
		(*C.longlong)(&t.Flat[0]), (*C.longlong)(&t.Size[0]), (*C.int)(&t.ChunkTensor[0]), (*C.longlong)(&t.ChunkStart[0]),
		C.float(beta1), C.float(beta2), C.float(eps), C.double(maxNorm))
}

// EMA runs kernels/optim.cu's ema.
func EMA(l Launch, shadow, arena []float32, norm *float64, loss *float32, ctl *StepCtl, t *Tables) {
	g, b := l.c()
	C.emu_ema(g, b, p(shadow), p(arena), (*C.double)(norm), (*C.float)(loss), unsafe.Pointer(ctl), (*C.longlong)(&t.Param[0]), (*C.longlong)(&t.Flat[0]),
		(*C.longlong)(&t.Size[0]), (*C.int)(&t.ChunkTensor[0]), (*C.longlong)(&t.ChunkStart[0]))
}

// Follow runs kernels/optim.cu's follow: state tensor i at arena offset
// value[i] follows batch[i] with keep keepTake[2i] and take keepTake[2i+1];
// t gives the sizes and chunks.
func Follow(l Launch, arena []float32, norm *float64, loss *float32, keepTake []float64, value, batch []int64, t *Tables) {
	g, b := l.c()
	C.emu_follow(g, b, p(arena), (*C.double)(norm), (*C.float)(loss), (*C.double)(&keepTake[0]), (*C.longlong)(&value[0]), (*C.longlong)(&batch[0]),
		(*C.longlong)(&t.Size[0]), (*C.int)(&t.ChunkTensor[0]), (*C.longlong)(&t.ChunkStart[0]))
}

// ConsistencyPair runs kernels/sde.cu's ct_pair for the clean batch x0
// into the online and target networks' inputs and the pairs' weights, at
// training step step.
func ConsistencyPair(online, target sde.ConsistencyInputs, weight, x0 []float32, c *sde.Consistency, seed, step uint64) {
	times := c.TimeTable()
	var cdf *C.double
	kPrime := 0
	if c.Improved {
		table := c.IndexTable()
		cdf, kPrime = (*C.double)(&table[0]), c.KPrime()
	}
	st := C.uint64_t(step)
	batch := len(online.T)
	C.ct_pair(p(online.X), p(online.T), p(online.Skip), p(online.Out), p(target.X), p(target.T), p(target.Skip), p(target.Out),
		p(weight), p(x0), C.int(batch), C.longlong(len(x0)/batch), (*C.double)(&times[0]), cdf, C.int(c.S0), C.int(c.S1),
		C.longlong(c.K), C.longlong(kPrime), C.double(c.Eps), C.double(c.SigmaData), C.uint64_t(seed), &st)
}

// LangevinNorms and LangevinStep run the corrector's kernels
// (kernels/sde.cu); bad has two slots.
func LangevinNorms(l Launch, norms []float64, epsHat, z []float32, d int, ctl *SamplerCtl) {
	g, b := l.c()
	C.emu_langevin_norms(g, b, (*C.double)(&norms[0]), p(epsHat), p(z), C.longlong(d), unsafe.Pointer(ctl))
}

func LangevinStep(l Launch, x, epsHat, z []float32, norms []float64, batch int, ctl *SamplerCtl, bad []float64) {
	g, b := l.c()
	C.emu_langevin_step(g, b, p(x), p(epsHat), p(z), (*C.double)(&norms[0]), C.int(batch), C.longlong(len(x)), unsafe.Pointer(ctl), (*C.double)(&bad[0]))
}

// ActFwd and ActBwd run kernels/elementwise.cu's activations.
func ActFwd(y, x []float32, act int, slope float32) {
	C.act_fwd(p(y), p(x), C.longlong(len(x)), C.int(act), C.float(slope))
}

func ActBwd(dx, x, dy []float32, act int, slope float32) {
	C.act_bwd(p(dx), p(x), p(dy), C.longlong(len(x)), C.int(act), C.float(slope))
}

// ActBwd2 runs kernels/elementwise.cu's act_bwd2: out = f2(x) dy g, f2
// the second derivative.
func ActBwd2(out, x, dy, g []float32, act int, slope float32) {
	C.act_bwd2(p(out), p(x), p(dy), p(g), C.longlong(len(x)), C.int(act), C.float(slope))
}

// Binary runs kernels/elementwise.cu's broadcasting binary op over an
// output of sizes d (four axes), with the operands' strides sa and sb.
func Binary(y, a, b []float32, op int, d, sa, sb [4]int) {
	C.binary(p(y), p(a), p(b), C.longlong(len(y)), C.int(op), C.int(d[1]), C.int(d[2]), C.int(d[3]),
		C.int(sa[0]), C.int(sa[1]), C.int(sa[2]), C.int(sa[3]), C.int(sb[0]), C.int(sb[1]), C.int(sb[2]), C.int(sb[3]))
}

// Expand runs kernels/elementwise.cu's expand.
func Expand(y, x []float32, f float32, d, s [4]int) {
	C.expand(p(y), p(x), C.longlong(len(y)), C.float(f), C.int(d[1]), C.int(d[2]), C.int(d[3]), C.int(s[0]), C.int(s[1]), C.int(s[2]), C.int(s[3]))
}

// SinusoidalFwd runs kernels/embedding.cu's sinusoidal_fwd.
func SinusoidalFwd(y, t []float32, dim int, scale float64) {
	C.sinusoidal_fwd(p(y), p(t), C.int(len(t)), C.int(dim), C.double(scale))
}
