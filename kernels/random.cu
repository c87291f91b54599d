// random.cu: keyed random draws (nn/random.go): NormalLike's standard
// normals and Bernoulli's 0/1 draws. The seed and step are read from device
// memory, as dropout's are, so that a captured CUDA graph draws anew each
// replay; the numbers are common.cuh's, the ones the CPU ops draw.
#include "common.cuh"

// normal_like: y[j] = element j of the normal draw (*seed, stream, *step),
// as sde.cu's normals draws them (normal_at).
extern "C" __global__ void normal_like(float *y, long long n, const uint64_t *seed_p, uint32_t stream, const uint64_t *step) {
	uint64_t draw = *step, seed = *seed_p;
	grid_stride(j, n) y[j] = normal_at(j, stream, draw, seed);
}

// bernoulli: y[i] = 1 where the uniform of element i (dropout's words) is
// below p[i], else 0. y may be p (in place). The uniform is exact in
// float, so the test matches the CPU's in either precision.
extern "C" __global__ void bernoulli(float *y, const float *p, long long n, const uint64_t *seed_p, uint32_t stream,
	const uint64_t *step) {
	uint64_t draw = *step, seed = *seed_p;
	grid_stride(b, (n + 3) / 4) {
		u32x4 r = philox_block(b, stream, draw, seed);
#pragma unroll
		for (int l = 0; l < 4; l++) {
			long long i = 4 * b + l;
			if (i < n) y[i] = uniform24(r.v[l]) < (double)p[i] ? 1.f : 0.f;
		}
	}
}
