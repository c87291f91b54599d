// embedding.cu: the sinusoidal time embedding (nn/embedding.go), forward and
// backward, in double as on the CPU: y[b] = [sin(t_b f_k), cos(t_b f_k)] with
// f_k = scale * 10000^(-k/(half-1)).
#include "common.cuh"

__device__ __forceinline__ double sin_freq(int k, int half, double scale) {
	return scale * exp(-log(10000.0) * (double)k / (double)(half - 1));
}

extern "C" __global__ void sinusoidal_fwd(float *y, const float *t, int batch, int dim, double scale) {
	int half = dim / 2;
	grid_stride(e, (long long)batch * half) {
		int b = (int)(e / half), k = (int)(e % half);
		double s, c;
		sincos((double)t[b] * sin_freq(k, half, scale), &s, &c);
		y[(long long)b * dim + k] = (float)s;
		y[(long long)b * dim + half + k] = (float)c;
	}
}

// sinusoidal_bwd: dt[b] = sum_k f_k (cos(t f_k) g[b,k] - sin(t f_k) g[b,half+k]);
// block b.
extern "C" __global__ void sinusoidal_bwd(float *dt, const float *t, const float *g, int dim, double scale) {
	__shared__ double sh[32];
	int half = dim / 2, b = blockIdx.x;
	const float *gb = g + (long long)b * dim;
	double acc = 0.0;
	for (int k = threadIdx.x; k < half; k += blockDim.x) {
		double f = sin_freq(k, half, scale), s, c;
		sincos((double)t[b] * f, &s, &c);
		acc += f * (c * gb[k] - s * gb[half + k]);
	}
	acc = block_sum(acc, sh);
	if (threadIdx.x == 0) dt[b] = (float)acc;
}
