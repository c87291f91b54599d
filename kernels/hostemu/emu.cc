// emu.cc compiles the kernels for the CPU (see emu.h) and runs blocks of
// threads for them.
#include "emu.h"

#include <barrier>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

thread_local emu_dim threadIdx = {0, 0, 0};
emu_dim blockIdx = {0, 0, 0}, blockDim = {1, 1, 1}, gridDim = {1, 1, 1};
double *emu_exchange;
static std::barrier<> *block_barrier;
static std::mutex atomics;

void __syncthreads() {
	if (block_barrier) block_barrier->arrive_and_wait();
}

void __threadfence() {}

unsigned int atomicInc(unsigned int *p, unsigned int bound) {
	std::lock_guard<std::mutex> lock(atomics);
	unsigned int old = *p;
	*p = old >= bound ? 0 : old + 1;
	return old;
}

// emu_launch runs kernel on grid blocks of block threads, one block after
// another.
static void emu_launch(int grid, int block, const std::function<void()> &kernel) {
	gridDim = {(unsigned)grid, 1, 1};
	blockDim = {(unsigned)block, 1, 1};
	std::vector<double> exchange(block);
	emu_exchange = exchange.data();
	for (int b = 0; b < grid; b++) {
		blockIdx = {(unsigned)b, 0, 0};
		std::barrier<> bar(block);
		block_barrier = &bar;
		std::vector<std::thread> threads;
		for (int t = 0; t < block; t++)
			threads.emplace_back([&kernel, t] {
				threadIdx = {(unsigned)t, 0, 0};
				kernel();
			});
		for (auto &th : threads) th.join();
	}
	block_barrier = nullptr;
	gridDim = blockDim = {1, 1, 1};
	blockIdx = {0, 0, 0};
}

#include "../batchnorm.cu"
#include "../conv.cu"
#include "../crossentropy.cu"
#include "../dropout.cu"
#include "../elementwise.cu"
#include "../embedding.cu"
#include "../norm.cu"
#include "../optim.cu"
#include "../random.cu"
#include "../reduce.cu"
#include "../sde.cu"
#include "../shape.cu"
#include "../softmax.cu"
#include "../uniform.cu"

// The block kernels, launched as the launchers in nn/*_gpu.go and gpu/ do.
extern "C" {
void emu_gn_fwd(int grid, int block, float *y, const float *x, const float *gamma, const float *beta, int groups, int d, int s, double eps, int act) {
	emu_launch(grid, block, [=] { gn_fwd(y, x, gamma, beta, groups, d, s, eps, act); });
}
void emu_gn_bwd_x(int grid, int block, float *dx, const float *x, const float *gamma, const float *beta, const float *dy, int groups, int d, int s, double eps, int act) {
	emu_launch(grid, block, [=] { gn_bwd_x(dx, x, gamma, beta, dy, groups, d, s, eps, act); });
}
void emu_gn_stats(int grid, int block, float *stats, const float *x, int d, int s, double eps) {
	emu_launch(grid, block, [=] { gn_stats(stats, x, d, s, eps); });
}
void emu_gn_bwd_affine(int grid, int block, float *out, const float *x, const float *gamma, const float *beta, const float *dy, const float *stats, int n, int c, int groups, int s, int act) {
	emu_launch(grid, block, [=] { gn_bwd_affine(out, x, gamma, beta, dy, stats, n, c, groups, s, act); });
}
void emu_bn_fwd(int grid, int block, float *y, const float *x, const float *gamma, const float *beta, int n, int c, int s, double eps) {
	emu_launch(grid, block, [=] { bn_fwd(y, x, gamma, beta, n, c, s, eps); });
}
void emu_bn_bwd_x(int grid, int block, float *dx, const float *x, const float *gamma, const float *dy, int n, int c, int s, double eps) {
	emu_launch(grid, block, [=] { bn_bwd_x(dx, x, gamma, dy, n, c, s, eps); });
}
void emu_bn_bwd_affine(int grid, int block, float *out, const float *x, const float *dy, int n, int c, int s, double eps) {
	emu_launch(grid, block, [=] { bn_bwd_affine(out, x, dy, n, c, s, eps); });
}
void emu_bn_moments(int grid, int block, float *out, const float *x, int n, int c, int s) {
	emu_launch(grid, block, [=] { bn_moments(out, x, n, c, s); });
}
void emu_softmax_fwd(int grid, int block, float *y, const float *x, int n) {
	emu_launch(grid, block, [=] { softmax_fwd(y, x, n); });
}
void emu_softmax_bwd(int grid, int block, float *dx, const float *y, const float *g, int n) {
	emu_launch(grid, block, [=] { softmax_bwd(dx, y, g, n); });
}
void emu_softmax_ce_fwd(int grid, int block, float *out, const float *l, const float *t, int n, int k) {
	emu_launch(grid, block, [=] { softmax_ce_fwd(out, l, t, n, k); });
}
void emu_accuracy(int grid, int block, float *out, const float *l, const float *t, int n, int k) {
	emu_launch(grid, block, [=] { accuracy(out, l, t, n, k); });
}
void emu_reduce_to(int grid, int block, float *y, const float *x, float f, const int *k, long long rn) {
	emu_launch(grid, block, [=] { reduce_to(y, x, f, k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8], k[9], k[10], k[11], k[12], k[13], rn); });
}
void emu_mse(int grid, int block, float *out, const float *a, const float *b, long long n) {
	emu_launch(grid, block, [=] { mse(out, a, b, n); });
}
void emu_pseudo_huber(int grid, int block, float *out, const float *a, const float *b, const float *w, int batch, long long d, double c) {
	emu_launch(grid, block, [=] { pseudo_huber(out, a, b, w, batch, d, c); });
}
void emu_pseudo_huber_bwd(int grid, int block, float *out, const float *a, const float *b, const float *w, const float *g, long long d, double c, int wrt) {
	emu_launch(grid, block, [=] { pseudo_huber_bwd(out, a, b, w, g, d, c, wrt); });
}
void emu_sinusoidal_bwd(int grid, int block, float *dt, const float *t, const float *g, int dim, double scale) {
	emu_launch(grid, block, [=] { sinusoidal_bwd(dt, t, g, dim, scale); });
}
void emu_norm_sq(int grid, int block, double *norm, double *partial, unsigned int *done, const float *arena, const long long *grad, const long long *size, const int *chunk_tensor, const long long *chunk_start, int chunks) {
	emu_launch(grid, block, [=] { norm_sq(norm, partial, done, arena, grad, size, chunk_tensor, chunk_start, chunks); });
}
void emu_adam(int grid, int block, float *arena, float *m, float *v, const double *norm, const float *loss, const void *ctl, const long long *param, const long long *grad, const long long *flat, const long long *size, const int *chunk_tensor, const long long *chunk_start, float beta1, float beta2, float eps, double max_norm) {
	emu_launch(grid, block, [=] { adam(arena, m, v, norm, loss, (const step_ctl *)ctl, param, grad, flat, size, chunk_tensor, chunk_start, beta1, beta2, eps, max_norm); });
}
void emu_ema(int grid, int block, float *shadow, const float *arena, const double *norm, const float *loss, const void *ctl, const long long *param, const long long *flat, const long long *size, const int *chunk_tensor, const long long *chunk_start) {
	emu_launch(grid, block, [=] { ema(shadow, arena, norm, loss, (const step_ctl *)ctl, param, flat, size, chunk_tensor, chunk_start); });
}
void emu_follow(int grid, int block, float *arena, const double *norm, const float *loss, const double *keep_take, const long long *value, const long long *batch, const long long *size, const int *chunk_tensor, const long long *chunk_start) {
	emu_launch(grid, block, [=] { follow(arena, norm, loss, keep_take, value, batch, size, chunk_tensor, chunk_start); });
}
void emu_langevin_norms(int grid, int block, double *norms, const float *eps_hat, const float *z, long long d, const void *ctl) {
	emu_launch(grid, block, [=] { langevin_norms(norms, eps_hat, z, d, (const sampler_ctl *)ctl); });
}
void emu_langevin_step(int grid, int block, float *x, const float *eps_hat, const float *z, const double *norms, int batch, long long n, const void *ctl, double *bad) {
	emu_launch(grid, block, [=] { langevin_step(x, eps_hat, z, norms, batch, n, (const sampler_ctl *)ctl, bad); });
}
}
