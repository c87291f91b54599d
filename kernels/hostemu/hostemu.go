// Package hostemu runs the CUDA kernels of kernels/ that are grid-stride
// loops on the CPU, one element at a time (emu.h), so that tests without a
// GPU can check their indexing and their Philox draws against the CPU code.
// It exists for tests; nothing else imports it.
//
// The Go build cache does not see changes to ../*.cu (cgo tracks only this
// folder's files): after editing a kernel, run its tests with
// `go clean -cache` or `go test -a`. CI builds from scratch.
package hostemu

// #cgo CXXFLAGS: -O1 -std=c++17
// #include <stdint.h>
// void im2col(float *col, const float *x, int n0, int nb, int c, int h, int w, int kh, int kw, int oh, int ow, int stride, int pad);
// void col2im(float *dx, const float *dcol, int n0, int nb, int c, int h, int w, int kh, int kw, int oh, int ow, int stride, int pad);
// void gather(float *ycol, const float *y, int n0, int nb, int k, long long P);
// void scatter(float *y, const float *ycol, const float *bias, int n0, int nb, int k, long long P);
// void upsample2x(float *y, const float *x, long long planes, int h, int w);
// void upsample2x_bwd(float *dx, const float *g, long long planes, int h, int w);
// void copy_rows(float *dst, const float *src, long long rows, long long len, long long dstride, long long doff, long long sstride, long long soff);
// void dropout(float *y, const float *x, long long n, uint32_t thr, float scale, const uint64_t *seed, uint32_t stream, const uint64_t *step);
// void perturb(float *xt, float *z, float *t, const float *x0, int batch, long long d, int kind, double a, double b, double eps, uint64_t seed, const uint64_t *step);
// void normals(float *y, long long n, double sd, uint64_t seed, uint32_t stream, uint64_t draw);
// void em_step(float *x, const float *eps_hat, long long n, const void *ctl);
// void langevin_noise(float *z, long long n, const void *ctl);
import "C"

import "unsafe"

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

// Perturb runs kernels/sde.cu's noising for an SDE of the given kind (0 VE,
// 1 VP, 2 sub-VP) with parameters a, b.
func Perturb(xt, z, t, x0 []float32, kind int, a, b, eps float64, seed, step uint64) {
	st := C.uint64_t(step)
	C.perturb(p(xt), p(z), p(t), p(x0), C.int(len(t)), C.longlong(len(x0)/len(t)), C.int(kind), C.double(a), C.double(b), C.double(eps), C.uint64_t(seed), &st)
}

// Normals runs kernels/sde.cu's normals.
func Normals(y []float32, sd float64, seed uint64, stream uint32, draw uint64) {
	C.normals(p(y), C.longlong(len(y)), C.double(sd), C.uint64_t(seed), C.uint32_t(stream), C.uint64_t(draw))
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
}

// EMStep runs kernels/sde.cu's em_step.
func EMStep(x, epsHat []float32, ctl *SamplerCtl) {
	C.em_step(p(x), p(epsHat), C.longlong(len(x)), unsafe.Pointer(ctl))
}

// LangevinNoise runs kernels/sde.cu's langevin_noise.
func LangevinNoise(z []float32, ctl *SamplerCtl) {
	C.langevin_noise(p(z), C.longlong(len(z)), unsafe.Pointer(ctl))
}
