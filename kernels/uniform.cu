// uniform.cu: U[0, 1) noise keyed by (seed, step, stream, element)
// (nn/uniform.go), drawn as dropout's masks are.
#include "common.cuh"

// uniform_like: y[i] = uniform24 of lane i%4 of philox(i/4, stream, step,
// seed). The seed and step are read from device memory so that a captured
// CUDA graph draws new noise each replay.
extern "C" __global__ void uniform_like(float *y, long long n, const uint64_t *seed_p, uint32_t stream, const uint64_t *step) {
	uint64_t draw = *step, seed = *seed_p;
	grid_stride(b, (n + 3) / 4) {
		u32x4 r = philox_block(b, stream, draw, seed);
#pragma unroll
		for (int l = 0; l < 4; l++) {
			long long i = 4 * b + l;
			if (i < n) y[i] = (float)uniform24(r.v[l]);
		}
	}
}
