// GroupNorm with its fused activation (Identity or SiLU), float32, forward
// and both gradients: the same arithmetic as groupnorm.go's kernels, written
// in C so that the compiler vectorises it (e^x included) for the CPU that
// runs it: each function is built for AVX-512, for AVX2 and for plain
// x86-64, and the loader picks one (target_clones). groupnorm.go keeps the
// float64 kernels that these are tested against.
#include <math.h>
#include <string.h>
#include <stdint.h>

#include "groupnorm.h"

#if defined(__x86_64__)
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONES
#endif

// expf_vec is Cephes' expf as exp32 in mathf.go, written so that loops
// calling it vectorise: x = n ln2 + r, e^r by a polynomial, 2^n by the
// exponent bits. |x| is first held to 87.33654 (where e^x is 1e38 or
// 1e-38) on the bits, with integer operations: GCC keeps a float
// comparison or fminf a scalar branch, and floorf a call.
static inline __attribute__((always_inline)) float expf_vec(float x) {
	uint32_t b;
	memcpy(&b, &x, sizeof b);
	uint32_t mag = b & 0x7fffffffu, limit = 0x42aeac4fu; // 87.33654f
	mag = mag < limit ? mag : limit;
	b = (b & 0x80000000u) | mag;
	memcpy(&x, &b, sizeof x);
	// n = floor(t): truncation, one lower for negative non-integers.
	float t = x * 1.44269504088896341f + 0.5f;
	int32_t i = (int32_t)t;
	i -= t < (float)i;
	float n = (float)i;
	float r = x - n * 0.693359375f + n * 2.12194440e-4f;
	float p = 1.9875691500e-4f;
	p = p * r + 1.3981999507e-3f;
	p = p * r + 8.3334519073e-3f;
	p = p * r + 4.1665795894e-2f;
	p = p * r + 1.6666665459e-1f;
	p = p * r + 5.0000001201e-1f;
	p = p * r * r + r + 1;
	int32_t bits = (i + 127) << 23;
	float scale;
	memcpy(&scale, &bits, sizeof scale);
	return p * scale;
}

// act is the activation at z, and dact its derivative.
static inline __attribute__((always_inline)) float act(float z, int silu) {
	return silu ? z / (1 + expf_vec(-z)) : z;
}

static inline __attribute__((always_inline)) float dact(float z, int silu) {
	if (!silu) return 1;
	float s = 1 / (1 + expf_vec(-z));
	return s * (1 + z * (1 - s));
}

// stats is groupStats: the mean and 1/sqrt(var+eps) of x[0:m], summed in
// double over the centred values.
static inline __attribute__((always_inline)) void stats(const float *x, int m, double eps, float *mean, float *rstd) {
	double sum = 0;
#pragma omp simd reduction(+ : sum)
	for (int i = 0; i < m; i++) sum += x[i];
	double mu = sum / m, ss = 0;
#pragma omp simd reduction(+ : ss)
	for (int i = 0; i < m; i++) {
		double d = x[i] - mu;
		ss += d * d;
	}
	*mean = (float)mu;
	*rstd = (float)(1 / sqrt(ss / m + eps));
}

// The bodies below are inlined twice each, with silu a constant, so that
// no loop branches on it.
#define BODY static inline __attribute__((always_inline)) void

BODY forward(const float *x, float *y, const float *gamma, const float *beta,
		int lo, int hi, int groups, int d, int s, double eps, const int silu) {
	int m = d * s;
	for (int ng = lo; ng < hi; ng++) {
		const float *xg = x + (int64_t)ng * m;
		float *yg = y + (int64_t)ng * m;
		float mu, r;
		stats(xg, m, eps, &mu, &r);
		for (int j = 0; j < d; j++) {
			int ch = (ng % groups) * d + j;
			float gr = gamma[ch] * r, bt = beta[ch];
			const float *xc = xg + j * s;
			float *yc = yg + j * s;
#pragma omp simd
			for (int k = 0; k < s; k++) yc[k] = act((xc[k] - mu) * gr + bt, silu);
		}
	}
}

// nn_gn_backward_x may write dx over dy: each element is read just before the
// same element is written.
BODY backward_x(const float *x, const float *dy, float *dx, const float *gamma, const float *beta,
		int lo, int hi, int groups, int d, int s, double eps, const int silu) {
	int m = d * s;
	for (int ng = lo; ng < hi; ng++) {
		const float *xg = x + (int64_t)ng * m, *dyg = dy + (int64_t)ng * m;
		float *dxg = dx + (int64_t)ng * m;
		float mu, r;
		stats(xg, m, eps, &mu, &r);
		double sum = 0, sum_xh = 0;
		for (int j = 0; j < d; j++) {
			int ch = (ng % groups) * d + j;
			float gm = gamma[ch], bt = beta[ch];
			const float *xc = xg + j * s, *dyc = dyg + j * s;
			float *dxc = dxg + j * s;
#pragma omp simd reduction(+ : sum, sum_xh)
			for (int k = 0; k < s; k++) {
				float xh = (xc[k] - mu) * r;
				float dxh = dyc[k] * dact(gm * xh + bt, silu) * gm;
				dxc[k] = dxh;
				sum += dxh;
				sum_xh += dxh * xh;
			}
		}
		float mean_dxh = (float)(sum / m), mean_dxh_xh = (float)(sum_xh / m);
#pragma omp simd
		for (int k = 0; k < m; k++) {
			float xh = (xg[k] - mu) * r;
			dxg[k] = r * (dxg[k] - mean_dxh - xh * mean_dxh_xh);
		}
	}
}

CLONES void nn_gn_stats(const float *x, float *out, int lo, int hi, int m, double eps) {
	for (int ng = lo; ng < hi; ng++) stats(x + (int64_t)ng * m, m, eps, &out[2 * ng], &out[2 * ng + 1]);
}

BODY backward_affine(const float *x, const float *dy, const float *st, const float *gamma, const float *beta,
		float *out, int lo, int hi, int n, int c, int groups, int d, int s, const int silu) {
	for (int ch = lo; ch < hi; ch++) {
		float gm = gamma[ch], bt = beta[ch];
		double dgamma = 0, dbeta = 0;
		for (int i = 0; i < n; i++) {
			int ng = i * groups + ch / d;
			float mu = st[2 * ng], r = st[2 * ng + 1];
			const float *xc = x + ((int64_t)i * c + ch) * s, *dyc = dy + ((int64_t)i * c + ch) * s;
#pragma omp simd reduction(+ : dgamma, dbeta)
			for (int k = 0; k < s; k++) {
				float xh = (xc[k] - mu) * r;
				float dz = dyc[k] * dact(gm * xh + bt, silu);
				dgamma += dz * xh;
				dbeta += dz;
			}
		}
		out[ch] = (float)dgamma;
		out[c + ch] = (float)dbeta;
	}
}

CLONES void nn_gn_forward(const float *x, float *y, const float *gamma, const float *beta,
		int lo, int hi, int groups, int d, int s, double eps, int silu) {
	if (silu)
		forward(x, y, gamma, beta, lo, hi, groups, d, s, eps, 1);
	else
		forward(x, y, gamma, beta, lo, hi, groups, d, s, eps, 0);
}

CLONES void nn_gn_backward_x(const float *x, const float *dy, float *dx, const float *gamma, const float *beta,
		int lo, int hi, int groups, int d, int s, double eps, int silu) {
	if (silu)
		backward_x(x, dy, dx, gamma, beta, lo, hi, groups, d, s, eps, 1);
	else
		backward_x(x, dy, dx, gamma, beta, lo, hi, groups, d, s, eps, 0);
}

CLONES void nn_gn_backward_affine(const float *x, const float *dy, const float *st, const float *gamma, const float *beta,
		float *out, int lo, int hi, int n, int c, int groups, int d, int s, int silu) {
	if (silu)
		backward_affine(x, dy, st, gamma, beta, out, lo, hi, n, c, groups, d, s, 1);
	else
		backward_affine(x, dy, st, gamma, beta, out, lo, hi, n, c, groups, d, s, 0);
}
