// elementwise.cu: activations (forward and backward), scale, the gradient
// sum, copies, and the broadcasting binary ops and expansion (nn/activation.go,
// nn/arith.go, nn/reduce.go's ExpandTo, nn/reshape.go).
#include "common.cuh"

extern "C" __global__ void act_fwd(float *y, const float *x, long long n, int act, float slope) {
	grid_stride(i, n) y[i] = act_f(act, slope, x[i]);
}

// act_bwd: dx = f'(x) dy; dx may be dy (in place).
extern "C" __global__ void act_bwd(float *dx, const float *x, const float *dy, long long n, int act, float slope) {
	grid_stride(i, n) dx[i] = act_df(act, slope, x[i]) * dy[i];
}

// act_bwd2: out = f''(x) dy g, the gradient of act_bwd's dx with respect to
// x; out may be g (in place).
extern "C" __global__ void act_bwd2(float *out, const float *x, const float *dy, const float *g, long long n, int act, float slope) {
	grid_stride(i, n) out[i] = act_d2f(act, slope, x[i]) * dy[i] * g[i];
}

extern "C" __global__ void scale(float *y, const float *x, long long n, float f) {
	grid_stride(i, n) y[i] = f * x[i];
}

// add2 is the element-wise sum of two same-shaped gradients.
extern "C" __global__ void add2(float *y, const float *a, const float *b, long long n) {
	grid_stride(i, n) y[i] = a[i] + b[i];
}

extern "C" __global__ void copy(float *y, const float *x, long long n) {
	grid_stride(i, n) y[i] = x[i];
}

extern "C" __global__ void fill(float *y, long long n, float v) {
	grid_stride(i, n) y[i] = v;
}

// A broadcast view: the output's four (merged) axes, sizes d0..d3, and each
// operand's element strides along them (0 where it is broadcast).
struct bview { int d1, d2, d3; int s0, s1, s2, s3; };

__device__ __forceinline__ long long boff(long long i, int d1, int d2, int d3, int s0, int s1, int s2, int s3) {
	long long i3 = i % d3; i /= d3;
	long long i2 = i % d2; i /= d2;
	long long i1 = i % d1; i /= d1;
	return i * s0 + i1 * s1 + i2 * s2 + i3 * s3;
}

enum { BIN_ADD, BIN_SUB, BIN_MUL };

// binary: y = a op b, with broadcasting through the strides.
extern "C" __global__ void binary(float *y, const float *a, const float *b, long long n, int op,
	int d1, int d2, int d3, int a0, int a1, int a2, int a3, int b0, int b1, int b2, int b3) {
	grid_stride(i, n) {
		float u = a[boff(i, d1, d2, d3, a0, a1, a2, a3)], v = b[boff(i, d1, d2, d3, b0, b1, b2, b3)];
		y[i] = op == BIN_ADD ? u + v : op == BIN_SUB ? u - v : u * v;
	}
}

// expand: y = f * x broadcast to y's shape.
extern "C" __global__ void expand(float *y, const float *x, long long n, float f,
	int d1, int d2, int d3, int s0, int s1, int s2, int s3) {
	grid_stride(i, n) y[i] = f * x[boff(i, d1, d2, d3, s0, s1, s2, s3)];
}

// bias_rows: y[r, j] = b[j] for rows r; a Linear's output before the GEMM
// adds x w^T to it.
extern "C" __global__ void bias_rows(float *y, const float *b, long long n, int cols) {
	grid_stride(i, n) y[i] = b[i % cols];
}
