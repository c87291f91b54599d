// common.cuh: what every kernel family shares: the launch geometry, block
// reductions, the activations, and Philox4x32-10 (the same generator as
// internal/philox, so CPU and GPU draw the same numbers).
#pragma once
#include <stdint.h>

#define THREADS 256

// grid_stride loops i over [0, n) whatever the grid size.
#define grid_stride(i, n) \
	for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long long)gridDim.x * blockDim.x)

// block_sum returns the sum of v over the block to every thread. The block
// size is a multiple of 32 and at most 1024; shared holds 32 values.
template <typename T>
__device__ __forceinline__ T block_sum(T v, T *shared) {
	for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
	int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
	__syncthreads(); // shared may still be read by a previous call
	if (lane == 0) shared[warp] = v;
	__syncthreads();
	int warps = blockDim.x >> 5;
	v = lane < warps ? shared[lane] : (T)0;
	for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
	return v;
}

// Activations, numbered as nn.Act: Identity, SiLU, ReLU, LeakyReLU, Sigmoid,
// Tanh, Exp, Log, Softplus, Sqrt.
enum { ACT_IDENTITY, ACT_SILU, ACT_RELU, ACT_LEAKY, ACT_SIGMOID, ACT_TANH, ACT_EXP, ACT_LOG, ACT_SOFTPLUS, ACT_SQRT };

__host__ __device__ __forceinline__ float act_f(int act, float slope, float x) {
	switch (act) {
	case ACT_SILU: return x / (1.f + expf(-x));
	case ACT_RELU: return fmaxf(x, 0.f);
	case ACT_LEAKY: return x < 0.f ? slope * x : x;
	case ACT_SIGMOID: return 1.f / (1.f + expf(-x));
	case ACT_TANH: return 2.f / (1.f + expf(-2.f * x)) - 1.f;
	case ACT_EXP: return expf(x);
	case ACT_LOG: return logf(x);
	case ACT_SOFTPLUS: return fmaxf(x, 0.f) + log1pf(expf(-fabsf(x))); // no overflow of e^x
	case ACT_SQRT: return sqrtf(x);
	}
	return x;
}

__host__ __device__ __forceinline__ float act_df(int act, float slope, float x) {
	switch (act) {
	case ACT_SILU: { float s = 1.f / (1.f + expf(-x)); return s * (1.f + x * (1.f - s)); }
	case ACT_RELU: return x > 0.f ? 1.f : 0.f;
	case ACT_LEAKY: return x < 0.f ? slope : 1.f;
	case ACT_SIGMOID: { float s = 1.f / (1.f + expf(-x)); return s * (1.f - s); }
	case ACT_TANH: { float t = 2.f / (1.f + expf(-2.f * x)) - 1.f; return 1.f - t * t; }
	case ACT_EXP: return expf(x);
	case ACT_LOG: return 1.f / x;
	case ACT_SOFTPLUS: return 1.f / (1.f + expf(-x));
	case ACT_SQRT: return 0.5f / sqrtf(x);
	}
	return 1.f;
}

// act_d2f is the second derivative; 0 for the piecewise linear ones.
__host__ __device__ __forceinline__ float act_d2f(int act, float slope, float x) {
	switch (act) {
	case ACT_SILU: { float s = 1.f / (1.f + expf(-x)); return s * (1.f - s) * (2.f + x * (1.f - 2.f * s)); }
	case ACT_SIGMOID: { float s = 1.f / (1.f + expf(-x)); return s * (1.f - s) * (1.f - 2.f * s); }
	case ACT_TANH: { float t = 2.f / (1.f + expf(-2.f * x)) - 1.f; return -2.f * t * (1.f - t * t); }
	case ACT_EXP: return expf(x);
	case ACT_LOG: return -1.f / (x * x);
	case ACT_SOFTPLUS: { float s = 1.f / (1.f + expf(-x)); return s * (1.f - s); }
	case ACT_SQRT: return -0.25f / (x * sqrtf(x));
	}
	return 0.f;
}

// Philox4x32-10 (Salmon et al. 2011). Element i of the draw (seed, stream,
// draw) is lane i%4 of philox(counter(i/4, stream, draw), key(seed)).
struct u32x4 { uint32_t v[4]; };

__host__ __device__ __forceinline__ uint32_t mulhi32(uint32_t a, uint32_t b) {
	return (uint32_t)(((uint64_t)a * b) >> 32);
}

__host__ __device__ __forceinline__ u32x4 philox(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint64_t seed) {
	uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
#pragma unroll
	for (int r = 0; r < 10; r++) {
		if (r > 0) { k0 += 0x9E3779B9u; k1 += 0xBB67AE85u; }
		uint32_t hi0 = mulhi32(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
		uint32_t hi1 = mulhi32(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
		uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
		c0 = n0; c1 = lo1; c2 = n2; c3 = lo0;
	}
	u32x4 out = {{c0, c1, c2, c3}};
	return out;
}

__host__ __device__ __forceinline__ u32x4 philox_block(long long block, uint32_t stream, uint64_t draw, uint64_t seed) {
	return philox((uint32_t)block, stream, (uint32_t)draw, (uint32_t)(draw >> 32), seed);
}

// uniform24 is x's top 24 bits scaled into [0, 1), exact in float32.
__host__ __device__ __forceinline__ double uniform24(uint32_t x) { return (double)(x >> 8) * 0x1p-24; }

// uniform_at is element i of the uniform draw (seed, stream, draw): lane
// i%4 of block i/4, as sde.Uniforms lays them out.
__device__ __forceinline__ double uniform_at(long long i, uint32_t stream, uint64_t draw, uint64_t seed) {
	return uniform24(philox_block(i >> 2, stream, draw, seed).v[i & 3]);
}

// normal_pair turns two words into two standard normals (Box-Muller in
// double, as philox.NormalPair does).
__host__ __device__ __forceinline__ void normal_pair(uint32_t a, uint32_t b, double *z0, double *z1) {
	double u1 = (double)((a >> 8) + 1) * 0x1p-24;
	double u2 = uniform24(b);
	double r = sqrt(-2.0 * log(u1));
	double s, c;
	sincospi(2.0 * u2, &s, &c);
	*z0 = r * c;
	*z1 = r * s;
}

// normal_at is element j of the normal draw (seed, stream, draw): lanes
// (0,1) and (2,3) of block j/4 make two pairs.
__device__ __forceinline__ float normal_at(long long j, uint32_t stream, uint64_t draw, uint64_t seed) {
	u32x4 r = philox_block(j >> 2, stream, draw, seed);
	int l = (int)(j & 3);
	double z0, z1;
	normal_pair(r.v[l & 2], r.v[(l & 2) + 1], &z0, &z1);
	return (float)((l & 1) ? z1 : z0);
}

// SDEs, numbered as sde.KernelKind: the perturbation kernel's mean and std
// at time t (score_sde's marginal_prob).
// SDE_FLOW is flow matching's linear path x_t = (1 - t) x0 + t x1.
// SDE_DDPM is sde.DDPM's discrete steps: abar_k from the table log_abar of
// log abar_k, k = 0..n, at k = round(t n) (the continuous kinds ignore
// log_abar and n).
enum { SDE_VE, SDE_VP, SDE_SUBVP, SDE_FLOW, SDE_DDPM };

__device__ __forceinline__ void marginal(int kind, double a, double b, const double *log_abar, int n, double t,
	double *mean, double *std) {
	switch (kind) {
	case SDE_VE: // a = sigma_min, b = sigma_max
		*mean = 1.0;
		*std = a * exp(t * log(b / a));
		return;
	case SDE_FLOW:
		*mean = 1.0 - t;
		*std = t;
		return;
	case SDE_DDPM: { // sqrt(abar_k) and sqrt(1 - abar_k), as sde.DDPM's Mean and Std
		double la = log_abar[max(0, min(n, (int)round(t * n)))];
		*mean = exp(0.5 * la);
		*std = sqrt(-expm1(la));
		return;
	}
	default: { // a = beta_min, b = beta_max
		double lmc = -0.25 * t * t * (b - a) - 0.5 * t * a;
		*mean = exp(lmc);
		double v = -expm1(2.0 * lmc); // 1 - m^2 without cancellation near t = 0
		*std = kind == SDE_VP ? sqrt(v) : v;
	}
	}
}
