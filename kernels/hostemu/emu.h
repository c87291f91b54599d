// emu.h lets kernels/*.cu compile as plain C++ and run on the CPU. A
// kernel called directly runs as one block of one thread, which walks
// every element of a grid-stride loop. emu_launch runs real blocks: each
// block's threads are OS threads, __syncthreads is a barrier, and warp
// shuffles go through a buffer between two barriers, so the block
// reductions run as written (slowly: this is for tests on small sizes).
#pragma once
// CUDA's __dadd_rn and the like are never fused into a multiply-add; so
// that the plain C++ below models them, the compiler must not contract
// a*b+c either (cgo does not allow -ffp-contract=off as a flag).
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
#define _GNU_SOURCE 1
#include <math.h>
#include <stdint.h>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static

struct emu_dim { unsigned int x, y, z; };
extern thread_local emu_dim threadIdx;
extern emu_dim blockIdx, blockDim, gridDim;

template <typename T> static inline T min(T a, T b) { return a < b ? a : b; }
template <typename T> static inline T max(T a, T b) { return a > b ? a : b; }

void __syncthreads();
void __threadfence();
unsigned int atomicInc(unsigned int *p, unsigned int bound);
extern double *emu_exchange; // one slot per thread of the running block

// __shfl_xor_sync: every thread of the block calls it together (as the
// reductions here do), so a block-wide exchange stands in for the warp's.
template <typename T> static inline T __shfl_xor_sync(unsigned, T v, int lane_mask) {
	emu_exchange[threadIdx.x] = (double)v;
	__syncthreads();
	T r = (T)emu_exchange[threadIdx.x ^ lane_mask];
	__syncthreads();
	return r;
}

// CUDA's round-to-nearest arithmetic, which nvcc never fuses into a
// multiply-add; plain C++ here, unfused by the pragma above.
static inline double __dadd_rn(double a, double b) { return a + b; }
static inline double __dmul_rn(double a, double b) { return a * b; }
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fmul_rn(float a, float b) { return a * b; }

// sincospi is CUDA's sin(pi x) and cos(pi x).
static inline void sincospi(double x, double *s, double *c) { sincos(M_PI * x, s, c); }
