// conv.cu: the data movement around a convolution's GEMMs (nn/conv.go). As
// on the CPU, a chunk of nb images starting at image n0 is laid out as
// column matrices with nb*P columns (P = OH*OW output pixels per image):
// im2col's col [C*KH*KW, nb*P] and the output side ycol [K, nb*P]. cuBLAS
// does the products; these kernels move data between NCHW and that layout.
#include "common.cuh"

struct conv_geom { int c, h, w, kh, kw, oh, ow, stride, pad; };

// im2col: col[r, img*P + p] = x[n0+img, ci, oy*s-pad+ky, ox*s-pad+kx], zero
// in the padding, for r = (ci, ky, kx).
extern "C" __global__ void im2col(float *col, const float *x, int n0, int nb,
	int c, int h, int w, int kh, int kw, int oh, int ow, int stride, int pad) {
	long long P = (long long)oh * ow, cols = nb * P, n = (long long)c * kh * kw * cols;
	grid_stride(e, n) {
		long long r = e / cols, q = e % cols;
		int img = (int)(q / P), p = (int)(q % P);
		int kx = (int)(r % kw), ky = (int)(r / kw % kh), ci = (int)(r / ((long long)kw * kh));
		int iy = (p / ow) * stride - pad + ky, ix = (p % ow) * stride - pad + kx;
		float v = 0.f;
		if (iy >= 0 && iy < h && ix >= 0 && ix < w)
			v = x[(((long long)(n0 + img) * c + ci) * h + iy) * w + ix];
		col[e] = v;
	}
}

// col2im: dx[n0+img, ci, iy, ix] = the sum of every dcol entry that im2col
// would have copied from that pixel. Each thread owns one pixel, so there are
// no atomics and the order of the sum is fixed.
extern "C" __global__ void col2im(float *dx, const float *dcol, int n0, int nb,
	int c, int h, int w, int kh, int kw, int oh, int ow, int stride, int pad) {
	long long P = (long long)oh * ow, cols = nb * P, n = (long long)nb * c * h * w;
	grid_stride(e, n) {
		int ix = (int)(e % w), iy = (int)(e / w % h), ci = (int)(e / ((long long)w * h) % c);
		int img = (int)(e / ((long long)w * h * c));
		float acc = 0.f;
		for (int ky = 0; ky < kh; ky++) {
			int ty = iy + pad - ky;
			if (ty < 0 || ty % stride != 0 || ty / stride >= oh) continue;
			for (int kx = 0; kx < kw; kx++) {
				int tx = ix + pad - kx;
				if (tx < 0 || tx % stride != 0 || tx / stride >= ow) continue;
				long long r = ((long long)ci * kh + ky) * kw + kx;
				acc += dcol[r * cols + img * P + (ty / stride) * ow + tx / stride];
			}
		}
		dx[(long long)n0 * c * h * w + e] = acc;
	}
}

// gather: ycol[k, img*P + p] = y[n0+img, k, p]; an NCHW tensor's chunk as a
// column matrix.
extern "C" __global__ void gather(float *ycol, const float *y, int n0, int nb, int k, long long P) {
	long long cols = nb * P, n = (long long)k * cols;
	grid_stride(e, n) {
		long long ch = e / cols, q = e % cols, img = q / P, p = q % P;
		ycol[e] = y[((n0 + img) * k + ch) * P + p];
	}
}

// scatter: y[n0+img, k, p] = ycol[k, img*P + p] + bias[k] (no bias when
// bias is null); the inverse of gather, adding the convolution's bias.
extern "C" __global__ void scatter(float *y, const float *ycol, const float *bias, int n0, int nb, int k, long long P) {
	long long cols = nb * P, n = (long long)k * cols;
	grid_stride(e, n) {
		long long img = e / (k * P), ch = e / P % k, p = e % P;
		float v = ycol[ch * cols + img * P + p];
		y[(long long)n0 * k * P + e] = bias ? v + bias[ch] : v;
	}
}
