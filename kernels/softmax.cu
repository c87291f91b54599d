// softmax.cu: softmax over the last axis (nn/softmax.go), forward and
// backward; block r handles row r of n elements. Sums are in double, as on
// the CPU.
#include "common.cuh"

// block_max is the maximum of v over the block, given to every thread.
__device__ __forceinline__ float block_max(float v, float *shared) {
	for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
	int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
	__syncthreads();
	if (lane == 0) shared[warp] = v;
	__syncthreads();
	v = lane < (int)(blockDim.x >> 5) ? shared[lane] : -INFINITY;
	for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
	return v;
}

extern "C" __global__ void softmax_fwd(float *y, const float *x, int n) {
	__shared__ float sh[32];
	__shared__ double shd[32];
	const float *xr = x + (long long)blockIdx.x * n;
	float *yr = y + (long long)blockIdx.x * n;
	float mx = -INFINITY;
	for (int i = threadIdx.x; i < n; i += blockDim.x) mx = fmaxf(mx, xr[i]);
	mx = block_max(mx, sh);
	double sum = 0.0;
	for (int i = threadIdx.x; i < n; i += blockDim.x) { float e = expf(xr[i] - mx); yr[i] = e; sum += e; }
	float inv = (float)(1.0 / block_sum(sum, shd));
	for (int i = threadIdx.x; i < n; i += blockDim.x) yr[i] *= inv;
}

// softmax_bwd: dx = y (g - sum(g y)).
extern "C" __global__ void softmax_bwd(float *dx, const float *y, const float *g, int n) {
	__shared__ double sh[32];
	long long off = (long long)blockIdx.x * n;
	double acc = 0.0;
	for (int i = threadIdx.x; i < n; i += blockDim.x) acc += (double)g[off + i] * y[off + i];
	float dot = (float)block_sum(acc, sh);
	for (int i = threadIdx.x; i < n; i += blockDim.x) dx[off + i] = y[off + i] * (g[off + i] - dot);
}
