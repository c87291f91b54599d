// batchnorm.cu: training-mode batch normalisation (nn/batchnorm.go),
// forward and backward, the per-channel moments for running statistics,
// and eval mode's normalisation with given statistics. Block b handles channel b: its m = n*s values are s
// contiguous pixels in each of the n samples. Statistics are summed in
// double, two passes as on the CPU, and recomputed by the backward
// kernels rather than stored.
#include "common.cuh"

// channel_stats sets mean and the sum of squared deviations ss of channel
// blockIdx.x in every thread of the block.
__device__ __forceinline__ void channel_stats(const float *x, int n, int c, int s, double *sh, double *mean, double *ss) {
	int ch = blockIdx.x;
	long long m = (long long)n * s;
	double sum = 0.0;
	for (long long q = threadIdx.x; q < m; q += blockDim.x) sum += x[((q / s) * c + ch) * s + q % s];
	double mu = block_sum(sum, sh) / (double)m;
	double dev = 0.0;
	for (long long q = threadIdx.x; q < m; q += blockDim.x) {
		double d = x[((q / s) * c + ch) * s + q % s] - mu;
		dev += d * d;
	}
	*mean = mu;
	*ss = block_sum(dev, sh);
}

// bn_fwd: y = (x - mean) (gamma rstd) + beta, rstd = 1/sqrt(var + eps) of
// the biased variance.
extern "C" __global__ void bn_fwd(float *y, const float *x, const float *gamma, const float *beta, int n, int c, int s,
	double eps) {
	__shared__ double sh[32];
	int ch = blockIdx.x;
	long long m = (long long)n * s;
	double mean, ss;
	channel_stats(x, n, c, s, sh, &mean, &ss);
	float mu = (float)mean, gr = gamma[ch] * (float)(1.0 / sqrt(ss / (double)m + eps)), bt = beta[ch];
	for (long long q = threadIdx.x; q < m; q += blockDim.x) {
		long long i = ((q / s) * c + ch) * s + q % s;
		y[i] = (x[i] - mu) * gr + bt;
	}
}

// bn_sums sets mean, rstd and the channel's sums dgamma = sum dy xh and
// dbeta = sum dy in every thread of the block.
__device__ __forceinline__ void bn_sums(const float *x, const float *dy, int n, int c, int s, double eps, double *sh,
	float *mu, float *r, double *dgamma, double *dbeta) {
	int ch = blockIdx.x;
	long long m = (long long)n * s;
	double mean, ss;
	channel_stats(x, n, c, s, sh, &mean, &ss);
	*mu = (float)mean;
	*r = (float)(1.0 / sqrt(ss / (double)m + eps));
	double dg = 0.0, db = 0.0;
	for (long long q = threadIdx.x; q < m; q += blockDim.x) {
		long long i = ((q / s) * c + ch) * s + q % s;
		dg += dy[i] * (x[i] - *mu) * *r;
		db += dy[i];
	}
	*dgamma = block_sum(dg, sh);
	*dbeta = block_sum(db, sh);
}

// bn_bwd_x: dx = gamma rstd (dy - dbeta/m - xh dgamma/m). dx may be dy:
// the sums are complete before any element is written.
extern "C" __global__ void bn_bwd_x(float *dx, const float *x, const float *gamma, const float *dy, int n, int c, int s,
	double eps) {
	__shared__ double sh[32];
	int ch = blockIdx.x;
	long long m = (long long)n * s;
	float mu, r;
	double dg, db;
	bn_sums(x, dy, n, c, s, eps, sh, &mu, &r, &dg, &db);
	float gr = gamma[ch] * r, mdy = (float)(db / (double)m), mdyxh = (float)(dg / (double)m);
	for (long long q = threadIdx.x; q < m; q += blockDim.x) {
		long long i = ((q / s) * c + ch) * s + q % s;
		dx[i] = gr * (dy[i] - mdy - (x[i] - mu) * r * mdyxh);
	}
}

// bn_bwd_affine: out[ch] = dgamma, out[c + ch] = dbeta.
extern "C" __global__ void bn_bwd_affine(float *out, const float *x, const float *dy, int n, int c, int s, double eps) {
	__shared__ double sh[32];
	float mu, r;
	double dg, db;
	bn_sums(x, dy, n, c, s, eps, sh, &mu, &r, &dg, &db);
	if (threadIdx.x == 0) { out[blockIdx.x] = (float)dg; out[c + blockIdx.x] = (float)db; }
}

// bn_moments: out[ch] = mean, out[c + ch] = unbiased variance (m > 1).
extern "C" __global__ void bn_moments(float *out, const float *x, int n, int c, int s) {
	__shared__ double sh[32];
	double mean, ss;
	channel_stats(x, n, c, s, sh, &mean, &ss);
	if (threadIdx.x == 0) { out[blockIdx.x] = (float)mean; out[c + blockIdx.x] = (float)(ss / (double)((long long)n * s - 1)); }
}

// bn_infer: y = (x - mean) gamma / sqrt(var + eps) + beta with given
// statistics, over n elements of planes of s pixels, c channels. y may be x.
extern "C" __global__ void bn_infer(float *y, const float *x, const float *gamma, const float *beta, const float *mean,
	const float *var, long long n, int c, int s, double eps) {
	grid_stride(i, n) {
		int ch = (int)((i / s) % c);
		float gr = gamma[ch] * (float)(1.0 / sqrt((double)var[ch] + eps));
		y[i] = (x[i] - mean[ch]) * gr + beta[ch];
	}
}
