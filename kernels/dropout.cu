// dropout.cu: inverted dropout (nn/dropout.go); the same kernel serves the
// backward pass, since the mask is recomputed from Philox rather than stored.
#include "common.cuh"

// dropout: y[i] = x[i] / (1-p) where the 24-bit draw for i is at least thr,
// else 0. The seed and step are read from device memory so that a captured
// CUDA graph draws new masks each replay.
extern "C" __global__ void dropout(float *y, const float *x, long long n, uint32_t thr, float scale,
	const uint64_t *seed_p, uint32_t stream, const uint64_t *step) {
	uint64_t draw = *step, seed = *seed_p;
	grid_stride(b, (n + 3) / 4) {
		u32x4 r = philox_block(b, stream, draw, seed);
#pragma unroll
		for (int l = 0; l < 4; l++) {
			long long i = 4 * b + l;
			if (i < n) y[i] = (r.v[l] >> 8) >= thr ? scale * x[i] : 0.f;
		}
	}
}
