// emu.h lets kernels/*.cu compile as plain C++ so that grid-stride kernels
// can run on the CPU with one block of one thread, which walks every
// element in turn. Kernels that need a real block (shared-memory
// reductions, warp shuffles) compile but are not run.
#pragma once
#define _GNU_SOURCE 1
#include <math.h>
#include <stdint.h>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static

struct emu_dim { unsigned int x, y, z; };
extern emu_dim threadIdx, blockIdx, blockDim, gridDim;

template <typename T> static inline T min(T a, T b) { return a < b ? a : b; }
template <typename T> static inline T max(T a, T b) { return a > b ? a : b; }
template <typename T> static inline T __shfl_xor_sync(unsigned, T v, int) { return v; }
static inline void __syncthreads() {}
static inline void __threadfence() {}
static inline unsigned int atomicInc(unsigned int *p, unsigned int bound) {
	unsigned int old = *p;
	*p = old >= bound ? 0 : old + 1;
	return old;
}

// sincospi is CUDA's sin(pi x) and cos(pi x).
static inline void sincospi(double x, double *s, double *c) { sincos(M_PI * x, s, c); }
