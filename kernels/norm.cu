// norm.cu: group normalisation with an optional fused activation
// (nn/groupnorm.go), forward and backward. Block b handles the (sample,
// group) pair b: m = (C/G)*S contiguous elements, S pixels per channel.
// Statistics are summed in double, as on the CPU, and recomputed by the
// backward kernels rather than stored.
#include "common.cuh"

// group_stats sets mean and rstd = 1/sqrt(var + eps) of xg[0:m] in every
// thread of the block (two passes, as on the CPU).
__device__ __forceinline__ void group_stats(const float *xg, long long m, double eps, double *sh, float *mean, float *rstd) {
	double s = 0.0;
	for (long long k = threadIdx.x; k < m; k += blockDim.x) s += xg[k];
	double mu = block_sum(s, sh) / (double)m;
	double ss = 0.0;
	for (long long k = threadIdx.x; k < m; k += blockDim.x) { double d = xg[k] - mu; ss += d * d; }
	ss = block_sum(ss, sh);
	*mean = (float)mu;
	*rstd = (float)(1.0 / sqrt(ss / (double)m + eps));
}

// gn_fwd: y = act(gamma (x - mean) rstd + beta).
extern "C" __global__ void gn_fwd(float *y, const float *x, const float *gamma, const float *beta,
	int groups, int d, int s, double eps, int act) {
	__shared__ double sh[32];
	long long m = (long long)d * s, off = blockIdx.x * m;
	int g = blockIdx.x % groups;
	float mu, r;
	group_stats(x + off, m, eps, sh, &mu, &r);
	for (long long k = threadIdx.x; k < m; k += blockDim.x) {
		int ch = g * d + (int)(k / s);
		y[off + k] = act_f(act, 0.f, (x[off + k] - mu) * (gamma[ch] * r) + beta[ch]);
	}
}

// gn_bwd_x: dx = rstd (dxh - mean(dxh) - xh mean(dxh xh)), where xh is the
// normalised input and dxh = dy act'(gamma xh + beta) gamma. dx may be dy.
extern "C" __global__ void gn_bwd_x(float *dx, const float *x, const float *gamma, const float *beta, const float *dy,
	int groups, int d, int s, double eps, int act) {
	__shared__ double sh[32];
	long long m = (long long)d * s, off = blockIdx.x * m;
	int g = blockIdx.x % groups;
	float mu, r;
	group_stats(x + off, m, eps, sh, &mu, &r);
	double sum = 0.0, sumxh = 0.0;
	for (long long k = threadIdx.x; k < m; k += blockDim.x) {
		int ch = g * d + (int)(k / s);
		float xh = (x[off + k] - mu) * r;
		float dxh = dy[off + k] * act_df(act, 0.f, gamma[ch] * xh + beta[ch]) * gamma[ch];
		sum += dxh;
		sumxh += dxh * xh;
	}
	float mdxh = (float)(block_sum(sum, sh) / (double)m);
	float mdxhxh = (float)(block_sum(sumxh, sh) / (double)m);
	for (long long k = threadIdx.x; k < m; k += blockDim.x) {
		int ch = g * d + (int)(k / s);
		float xh = (x[off + k] - mu) * r;
		float dxh = dy[off + k] * act_df(act, 0.f, gamma[ch] * xh + beta[ch]) * gamma[ch];
		dx[off + k] = r * (dxh - mdxh - xh * mdxhxh);
	}
}

// gn_stats writes (mean, rstd) of every (sample, group) to stats.
extern "C" __global__ void gn_stats(float *stats, const float *x, int d, int s, double eps) {
	__shared__ double sh[32];
	long long m = (long long)d * s;
	float mu, r;
	group_stats(x + blockIdx.x * m, m, eps, sh, &mu, &r);
	if (threadIdx.x == 0) { stats[2 * blockIdx.x] = mu; stats[2 * blockIdx.x + 1] = r; }
}

// gn_bwd_affine: out[ch] = dgamma, out[C + ch] = dbeta, summed over samples
// and pixels; block ch, with gn_stats' output.
extern "C" __global__ void gn_bwd_affine(float *out, const float *x, const float *gamma, const float *beta, const float *dy,
	const float *stats, int n, int c, int groups, int s, int act) {
	__shared__ double sh[32];
	int ch = blockIdx.x, d = c / groups;
	float gm = gamma[ch], bt = beta[ch];
	double dg = 0.0, db = 0.0;
	for (long long q = threadIdx.x; q < (long long)n * s; q += blockDim.x) {
		int img = (int)(q / s);
		long long i = ((long long)img * c + ch) * s + q % s;
		int ng = img * groups + ch / d;
		float xh = (x[i] - stats[2 * ng]) * stats[2 * ng + 1];
		float dz = dy[i] * act_df(act, 0.f, gm * xh + bt);
		dg += dz * xh;
		db += dz;
	}
	dg = block_sum(dg, sh);
	db = block_sum(db, sh);
	if (threadIdx.x == 0) { out[ch] = (float)dg; out[c + ch] = (float)db; }
}
