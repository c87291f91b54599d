// optim.cu: the optimiser over all parameters at once (nn/optim.go): the
// global gradient norm, clipped Adam and the EMA, one launch each, then
// the state tensors' following (follow). The
// parameters and gradients live anywhere in the plan's arena; a tensor
// table (arena offsets and sizes) and a chunk table (tensor, first element)
// let one grid cover them all: per tensor, param and grad (arena offsets),
// flat (its offset in the flat arrays) and size; per chunk of CHUNK
// elements, chunk_tensor and chunk_start. Moments and EMA weights are flat
// arrays in parameter order.
//
// As on the CPU (train's cpuStep), a step whose loss or gradient norm is not
// finite changes nothing: adam, ema and follow read both and return at
// once.
#include "common.cuh"

#define CHUNK 4096

// norm_sq: *norm = sqrt(sum of squared gradients), in double. Block c sums
// chunk c into partial[c]; the last block to finish adds the partials in
// order, so the result repeats bit for bit. *done must start at 0 and is
// left at 0.
extern "C" __global__ void norm_sq(double *norm, double *partial, unsigned int *done, const float *arena,
	const long long *grad, const long long *size, const int *chunk_tensor, const long long *chunk_start, int chunks) {
	__shared__ double sh[32];
	__shared__ bool last;
	int k = chunk_tensor[blockIdx.x];
	long long lo = chunk_start[blockIdx.x], hi = min(lo + CHUNK, size[k]);
	const float *g = arena + grad[k];
	double s = 0.0;
	for (long long j = lo + threadIdx.x; j < hi; j += blockDim.x) s += (double)g[j] * g[j];
	s = block_sum(s, sh);
	if (threadIdx.x == 0) {
		partial[blockIdx.x] = s;
		__threadfence();
		// atomicInc stores old >= bound ? 0 : old+1, so the last block (old =
		// gridDim.x-1) leaves *done at 0 for the next step.
		last = atomicInc(done, gridDim.x - 1) == gridDim.x - 1;
	}
	__syncthreads();
	if (!last) return;
	double t = 0.0;
	for (int c = threadIdx.x; c < chunks; c += blockDim.x) t += ((volatile double *)partial)[c];
	t = block_sum(t, sh);
	if (threadIdx.x == 0) *norm = sqrt(t);
}

// The per-step values of the update, written by the host before each step.
struct step_ctl {
	double step_size; // lr / (1 - beta1^t)
	double sqrt_c2;   // sqrt(1 - beta2^t)
	double ema_keep;  // the EMA's decay d this step
	double ema_take;  // 1 - d, rounded from double as on the CPU
};

// update_ok reports whether this step updates anything: its loss and
// gradient norm are both finite.
static __device__ __forceinline__ bool update_ok(const double *norm, const float *loss) {
	return isfinite(*norm) && isfinite(*loss);
}

// adam: one clipped Adam step, as nn.Adam.Update with gradScale =
// maxNorm / max(norm, maxNorm) (no clipping when maxNorm <= 0).
extern "C" __global__ void adam(float *arena, float *m, float *v, const double *norm, const float *loss, const step_ctl *ctl,
	const long long *param, const long long *grad, const long long *flat, const long long *size,
	const int *chunk_tensor, const long long *chunk_start, float beta1, float beta2, float eps, double max_norm) {
	if (!update_ok(norm, loss)) return;
	int k = chunk_tensor[blockIdx.x];
	long long lo = chunk_start[blockIdx.x], hi = min(lo + CHUNK, size[k]);
	float s = max_norm > 0.0 ? (float)(max_norm / fmax(*norm, max_norm)) : 1.f;
	float step = (float)ctl->step_size, sqrt_c2 = (float)ctl->sqrt_c2;
	float *p = arena + param[k], *mk = m + flat[k], *vk = v + flat[k];
	const float *g = arena + grad[k];
	for (long long j = lo + threadIdx.x; j < hi; j += blockDim.x) {
		float gj = g[j] * s;
		float mj = beta1 * mk[j] + (1.f - beta1) * gj;
		float vj = beta2 * vk[j] + (1.f - beta2) * gj * gj;
		mk[j] = mj;
		vk[j] = vj;
		p[j] -= step * mj / (sqrtf(vj) / sqrt_c2 + eps);
	}
}

// ema: shadow = keep shadow + take param.
extern "C" __global__ void ema(float *shadow, const float *arena, const double *norm, const float *loss, const step_ctl *ctl,
	const long long *param, const long long *flat, const long long *size,
	const int *chunk_tensor, const long long *chunk_start) {
	if (!update_ok(norm, loss)) return;
	int k = chunk_tensor[blockIdx.x];
	long long lo = chunk_start[blockIdx.x], hi = min(lo + CHUNK, size[k]);
	float keep = (float)ctl->ema_keep, take = (float)ctl->ema_take;
	const float *p = arena + param[k];
	float *s = shadow + flat[k];
	for (long long j = lo + threadIdx.x; j < hi; j += blockDim.x) s[j] = keep * s[j] + take * p[j];
}

// follow: the state tensors that follow their batch values after each step
// (a consistency model's target network, BatchNorm's running statistics;
// optim.Follow): value = keep value + take batch in float, with tensor k's
// keep = 1 - momentum and take = momentum at keep_take[2k] and [2k+1]
// (written each step), each product and the sum rounded as on the CPU (no
// fused multiply-add). Value and batch are arena offsets.
extern "C" __global__ void follow(float *arena, const double *norm, const float *loss, const double *keep_take,
	const long long *value, const long long *batch, const long long *size, const int *chunk_tensor,
	const long long *chunk_start) {
	if (!update_ok(norm, loss)) return;
	int k = chunk_tensor[blockIdx.x];
	long long lo = chunk_start[blockIdx.x], hi = min(lo + CHUNK, size[k]);
	float keep = (float)keep_take[2 * k], take = (float)keep_take[2 * k + 1];
	float *v = arena + value[k];
	const float *b = arena + batch[k];
	for (long long j = lo + threadIdx.x; j < hi; j += blockDim.x) v[j] = __fadd_rn(__fmul_rn(keep, v[j]), __fmul_rn(take, b[j]));
}
