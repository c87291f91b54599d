// Dropout's float32 kernel (forward and gradient: the same mask and scale),
// as bindDrop in dropout.go computes it, written so that GCC vectorises the
// Philox4x32-10 draws across blocks: in Go, one block at a time, the masks
// took a tenth of a U-Net training step. Built per ISA as groupnorm.c.
#include <stdint.h>
#include <string.h>

#include "dropout.h"

#if defined(__x86_64__)
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONES
#endif

// keep is x*scale where the lane's draw r has r>>8 >= threshold, else +0:
// a mask on the bits, since GCC keeps a float select a branch.
static inline __attribute__((always_inline)) float keep(float x, float scale, uint32_t r, uint32_t threshold) {
	float v = x * scale;
	uint32_t b;
	memcpy(&b, &v, sizeof b);
	b &= -(uint32_t)((r >> 8) >= threshold);
	memcpy(&v, &b, sizeof v);
	return v;
}

enum { LANES = 16 }; // blocks drawn side by side: one AVX-512 register each

// philox is internal/philox's Block for m <= LANES counters side by side,
// (c0[j], c1[j], c2[j], c3[j]), with the key seed, in place.
static inline __attribute__((always_inline)) void philox(uint32_t *c0, uint32_t *c1, uint32_t *c2, uint32_t *c3, int m, uint64_t seed) {
	uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
	for (int r = 0; r < 10; r++) {
#pragma omp simd
		for (int j = 0; j < m; j++) {
			uint64_t p0 = (uint64_t)0xD2511F53u * c0[j], p1 = (uint64_t)0xCD9E8D57u * c2[j];
			uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[j] ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3[j] ^ k1;
			c0[j] = n0;
			c1[j] = (uint32_t)p1;
			c2[j] = n2;
			c3[j] = (uint32_t)p0;
		}
		k0 += 0x9E3779B9u;
		k1 += 0xBB67AE85u;
	}
}

// Elements 4b..4b+3 of blocks [lo, hi), with n the tensor's length: block
// b's four lanes come from philox(counter (b, stream, step), key seed).
CLONES void nn_dropout(const float *x, float *out, int64_t n, int64_t lo, int64_t hi,
		uint32_t stream, uint64_t step, uint64_t seed, uint32_t threshold, float scale) {
	uint32_t c0[LANES], c1[LANES], c2[LANES], c3[LANES];
	for (int64_t b0 = lo; b0 < hi; b0 += LANES) {
		int m = hi - b0 < LANES ? (int)(hi - b0) : LANES;
		for (int j = 0; j < m; j++) {
			c0[j] = (uint32_t)(b0 + j);
			c1[j] = stream;
			c2[j] = (uint32_t)step;
			c3[j] = (uint32_t)(step >> 32);
		}
		philox(c0, c1, c2, c3, m, seed);
		const float *xb = x + 4 * b0;
		float *ob = out + 4 * b0;
		int whole = n / 4 - b0 < m ? (int)(n / 4 - b0) : m; // blocks with all four lanes inside
#pragma omp simd
		for (int j = 0; j < whole; j++) {
			ob[4 * j] = keep(xb[4 * j], scale, c0[j], threshold);
			ob[4 * j + 1] = keep(xb[4 * j + 1], scale, c1[j], threshold);
			ob[4 * j + 2] = keep(xb[4 * j + 2], scale, c2[j], threshold);
			ob[4 * j + 3] = keep(xb[4 * j + 3], scale, c3[j], threshold);
		}
		for (int j = whole; j < m; j++) { // the tensor's last, partial block
			uint32_t r[4] = {c0[j], c1[j], c2[j], c3[j]};
			for (int l = 0; l < 4 && 4 * (b0 + j) + l < n; l++) ob[4 * j + l] = keep(xb[4 * j + l], scale, r[l], threshold);
		}
	}
}
