// reduce.cu: sums over axes (nn/reduce.go's ReduceTo, which also makes the
// bias gradients), the mean squared error and the weighted pseudo-Huber loss
// (nn/loss.go), forward and backward. Sums run in a fixed order, so results repeat bit for bit.
#include "common.cuh"

// reduce_to: y[o] = f * sum of x over the reduced axes. Block o makes output
// o; the kept axes (k-sizes, k-strides into x) index o, and the reduced axes
// (r-sizes, r-strides) are summed by the block's threads.
extern "C" __global__ void reduce_to(float *y, const float *x, float f,
	int k1, int k2, int k3, int ks0, int ks1, int ks2, int ks3,
	int r1, int r2, int r3, int rs0, int rs1, int rs2, int rs3, long long rn) {
	__shared__ float sh[32];
	long long o = blockIdx.x, q = o;
	long long base = (q % k3) * ks3; q /= k3;
	base += (q % k2) * ks2; q /= k2;
	base += (q % k1) * ks1; q /= k1;
	base += q * ks0;
	float acc = 0.f;
	for (long long r = threadIdx.x; r < rn; r += blockDim.x) {
		long long p = r;
		long long off = (p % r3) * rs3; p /= r3;
		off += (p % r2) * rs2; p /= r2;
		off += (p % r1) * rs1; p /= r1;
		off += p * rs0;
		acc += x[base + off];
	}
	acc = block_sum(acc, sh);
	if (threadIdx.x == 0) y[o] = f * acc;
}

// mse: out[0] = mean of (a - b)^2, in one block.
// It sums in double, as the CPU kernel does.
extern "C" __global__ void mse(float *out, const float *a, const float *b, long long n) {
	__shared__ double sh[32];
	double acc = 0.0;
	for (long long i = threadIdx.x; i < n; i += blockDim.x) {
		double d = (double)a[i] - (double)b[i];
		acc += d * d;
	}
	acc = block_sum(acc, sh);
	if (threadIdx.x == 0) out[0] = (float)(acc / (double)n);
}

// mse_bwd: da = 2 g (a - b) / n, with g the loss's gradient (a scalar in
// device memory).
extern "C" __global__ void mse_bwd(float *da, const float *a, const float *b, const float *g, long long n) {
	float f = 2.f * g[0] / (float)n;
	grid_stride(i, n) da[i] = f * (a[i] - b[i]);
}

// ph_distance returns sqrt(||a_i - b_i||^2 + c^2) for the block's sample
// of d elements at a and b, to every thread, the sum in double.
__device__ __forceinline__ double ph_distance(const float *a, const float *b, long long d, double c, double *sh) {
	double s = 0.0;
	for (long long j = threadIdx.x; j < d; j += blockDim.x) {
		double e = (double)a[j] - (double)b[j];
		s += e * e;
	}
	return sqrt(block_sum(s, sh) + c * c);
}

// pseudo_huber: out[0] = the batch mean of w_i (sqrt(||a_i - b_i||^2 + c^2)
// - c) over batch samples of d elements, in one block, sample after sample.
extern "C" __global__ void pseudo_huber(float *out, const float *a, const float *b, const float *w, int batch, long long d,
	double c) {
	__shared__ double sh[32];
	double acc = 0.0;
	for (int i = 0; i < batch; i++) acc += (double)w[i] * (ph_distance(a + i * d, b + i * d, d, c, sh) - c);
	if (threadIdx.x == 0) out[0] = (float)(acc / (double)batch);
}

// pseudo_huber_bwd: with r_i = sqrt(||a_i - b_i||^2 + c^2) and g the loss's
// gradient (a scalar in device memory), the gradient by a (wrt 0), g/B w_i
// (a_i - b_i) / r_i, or by the weights (wrt 2), g/B (r_i - c); block i
// makes sample i's, B = gridDim.x.
extern "C" __global__ void pseudo_huber_bwd(float *out, const float *a, const float *b, const float *w, const float *g,
	long long d, double c, int wrt) {
	__shared__ double sh[32];
	long long i = blockIdx.x;
	const float *ai = a + i * d, *bi = b + i * d;
	double r = ph_distance(ai, bi, d, c, sh), f = (double)g[0] / (double)gridDim.x;
	if (wrt == 2) {
		if (threadIdx.x == 0) out[i] = (float)(f * (r - c));
		return;
	}
	double k = f * (double)w[i] / r;
	for (long long j = threadIdx.x; j < d; j += blockDim.x) out[i * d + j] = (float)(k * ((double)ai[j] - (double)bi[j]));
}
