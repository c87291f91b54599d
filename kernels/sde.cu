// sde.cu: the score-SDE kernels (sde/noise.go, sde/sampling.go): fused
// noising for training, the prior draw, one Euler-Maruyama reverse step, and
// one Langevin corrector step. They draw the same Philox numbers as the CPU
// code and compute in double where it does, so results agree up to rounding.
#include "common.cuh"

// Philox streams, as in sde/noise.go.
#define STREAM_TIME 0x5DE00001u
#define STREAM_NOISE 0x5DE00002u
#define STREAM_PRIOR 0x5DE00003u
#define STREAM_PREDICTOR 0x5DE00004u
#define STREAM_CORRECTOR 0x5DE00005u
#define STREAM_UNCOND 0x5DE0000Au
#define STREAM_INDEX 0x5DE0000Bu

// perturb: for sample i = j/d, t_i ~ U(eps, 1) and z ~ N(0, I) from Philox
// keyed by (seed, *step), then x_t = mean(t_i) x0 + std(t_i) z. The SDE is
// kind (SDE_VE: a, b = sigma_min, sigma_max; SDE_VP and SDE_SUBVP: beta_min,
// beta_max; SDE_DDPM: log_abar, the n+1 values log abar_k; SDE_FLOW: none,
// and z receives the target velocity z - x0, as sde.FlowPerturb). DDPM's
// t_i goes up to the next multiple of 1/n, as sde.DDPM's snap, so that its
// step k is uniform on 1..n: t_i n is exact in double (24 bits times an n
// below 2^29), so a fused multiply-add rounds t_i n - 1e-9 as the CPU's
// two operations do, and t_i is the CPU's bit for bit. The step is read
// from device memory, so a captured graph draws anew each replay.
extern "C" __global__ void perturb(float *xt, float *z, float *t, const float *x0, int batch, long long d,
	int kind, double a, double b, const double *log_abar, int n, double eps, uint64_t seed, const uint64_t *step) {
	uint64_t draw = *step;
	grid_stride(j, (long long)batch * d) {
		long long i = j / d;
		float ti = (float)(eps + (1.0 - eps) * uniform_at(i, STREAM_TIME, draw, seed));
		if ((double)ti < eps) ti = nextafterf(ti, 2.f);
		if (kind == SDE_DDPM) ti = (float)(ceil((double)ti * n - 1e-9) / n);
		double m, sd;
		marginal(kind, a, b, log_abar, n, (double)ti, &m, &sd);
		float zj = normal_at(j, STREAM_NOISE, draw, seed);
		xt[j] = (float)(m * (double)x0[j] + sd * (double)zj);
		z[j] = kind == SDE_FLOW ? zj - x0[j] : zj; // flow matching's target is x1 - x0
		if (j % d == 0) t[i] = ti;
	}
}

// label_drop: for a class-conditional network, which labels of the
// training batch are dropped to "no label" (score.DropLabels, so that one
// network learns the conditional and the unconditional score): sample i's
// where uniform i of (seed, STREAM_UNCOND, *step) is below p, keep[i] = 0
// and null[i] = 1; elsewhere keep[i] = 1 and null[i] = 0. The uniform has
// 24 bits, exact in float, so comparing it with p in double decides as the
// CPU does. The step is read from device memory, as perturb's, so that a
// captured graph draws anew each replay.
extern "C" __global__ void label_drop(float *keep, float *null, int batch, double p, uint64_t seed, const uint64_t *step) {
	uint64_t draw = *step;
	grid_stride(i, batch) {
		float k = uniform_at(i, STREAM_UNCOND, draw, seed) < p ? 0.f : 1.f;
		keep[i] = k;
		null[i] = 1.f - k;
	}
}

// ct_steps is consistency training's N(k), sde.Consistency's Steps:
// ceil(sqrt(k/K ((s1+1)^2 - s0^2) + s0^2) - 1) + 1 for k clamped to [0, K],
// with each operation rounded as the CPU's (no fused multiply-add), so that
// the number of points is the CPU's exactly.
__device__ __forceinline__ int ct_steps(uint64_t k, int s0, int s1, long long K) {
	double a = (double)(k > (uint64_t)K ? K : (long long)k) / (double)K;
	double span = (double)((s1 + 1) * (s1 + 1) - s0 * s0);
	return (int)ceil(sqrt(__dadd_rn(__dmul_rn(a, span), (double)(s0 * s0))) - 1.0) + 1;
}

// ct_inputs writes one network's inputs for sample i, element j at time t
// (sde.Consistency's Scalings and Inputs): x = c_in(t) v, skip = c_skip(t)
// v from the float32 point v, and once per sample the time input c_noise(t)
// = ln(t)/4 and c_out(t).
__device__ __forceinline__ void ct_inputs(float *x, float *t_in, float *skip, float *out, long long i, long long j, long long d,
	float v, double t, double eps, double sigma_data) {
	double d2 = sigma_data * sigma_data, s = t - eps;
	double r = sqrt(__dadd_rn(d2, __dmul_rn(t, t)));
	skip[j] = (float)(d2 / __dadd_rn(__dmul_rn(s, s), d2) * (double)v);
	x[j] = (float)(1.0 / r * (double)v);
	if (j % d == 0) {
		t_in[i] = (float)(log(t) / 4.0);
		out[i] = (float)(sigma_data * s / r);
	}
}

// ict_steps is improved consistency training's N(k), sde.Consistency's
// Steps: min(s0 2^floor(k/K'), s1) + 1, in integers.
__device__ __forceinline__ int ict_steps(uint64_t k, int s0, int s1, long long kprime) {
	uint64_t stage = k / (uint64_t)kprime;
	return stage >= 31 || ((long long)s0 << stage) > s1 ? s1 + 1 : (s0 << stage) + 1;
}

// ct_index is sde.Consistency's indexOf: the first i (1-based) of the n-1
// with cdf[i-1] > u, by bisection.
__device__ __forceinline__ int ct_index(const double *cdf, int n, double u) {
	int lo = 0, hi = n - 2;
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		if (cdf[mid] > u) hi = mid;
		else lo = mid + 1;
	}
	return lo + 1;
}

// ct_pair: consistency training's pair for the clean batch x0 (sde.Consistency's
// Pair, then Inputs for each network), at training step k = *step: with n =
// N(k) points t_1 < ... < t_n of the discretisation (times, every n's from 2
// on, n's starting at n(n-1)/2 - 1: sde.Consistency's TimeTable), sample i's
// index n_i from u_i, uniform i of (seed, STREAM_INDEX, k), and z element j of
// the normals of (seed, STREAM_NOISE, k); the online network (on_*) gets x0 +
// t_{n_i+1} z at t_{n_i+1} and the target network (tg_*) x0 + t_{n_i} z at
// t_{n_i}. Consistency training (kprime 0): N(k) of ct_steps and n_i = 1 +
// floor((n-1) u_i). Improved training (kprime = K' > 0): N(k) of ict_steps,
// n_i drawn from the index distribution (cdf, every n's from 2 on, n's n-1
// starting at (n-1)(n-2)/2: sde.Consistency's IndexTable), and weight[i] =
// 1/(t_{n_i+1} - t_{n_i}), the loss weight (weight may be null). The step
// is read from device memory, so that a captured graph draws anew each
// replay.
extern "C" __global__ void ct_pair(float *on_x, float *on_t, float *on_skip, float *on_out, float *tg_x, float *tg_t,
	float *tg_skip, float *tg_out, float *weight, const float *x0, int batch, long long d, const double *times,
	const double *cdf, int s0, int s1, long long K, long long kprime, double eps, double sigma_data, uint64_t seed,
	const uint64_t *step) {
	uint64_t k = *step;
	int n = kprime > 0 ? ict_steps(k, s0, s1, kprime) : ct_steps(k, s0, s1, K);
	const double *ts = times + (long long)n * (n - 1) / 2 - 1;
	grid_stride(j, (long long)batch * d) {
		long long i = j / d;
		double u = uniform_at(i, STREAM_INDEX, k, seed);
		int hi = kprime > 0 ? ct_index(cdf + (long long)(n - 1) * (n - 2) / 2, n, u) : 1 + (int)((double)(n - 1) * u);
		double th = ts[hi], tl = ts[hi - 1];
		double x = (double)x0[j], z = (double)normal_at(j, STREAM_NOISE, k, seed);
		float xh = (float)__dadd_rn(x, __dmul_rn(th, z)), xl = (float)__dadd_rn(x, __dmul_rn(tl, z));
		ct_inputs(on_x, on_t, on_skip, on_out, i, j, d, xh, th, eps, sigma_data);
		ct_inputs(tg_x, tg_t, tg_skip, tg_out, i, j, d, xl, tl, eps, sigma_data);
		if (weight && j == i * d) weight[i] = (float)(kprime > 0 ? 1.0 / (th - tl) : 1.0);
	}
}

// normals: y = sd * N(0, I) from elements off, off+1, ... of the Philox
// draw (seed, stream, draw); the prior x(T) with stream STREAM_PRIOR and off
// the element index of the batch's first image in the run.
extern "C" __global__ void normals(float *y, long long n, double sd, uint64_t seed, uint32_t stream, uint64_t draw,
	long long off) {
	grid_stride(j, n) y[j] = (float)(sd * (double)normal_at(off + j, stream, draw, seed));
}

// The values of one sampler step, written by the host before each step (a
// captured graph keeps its kernels' arguments, so what changes goes
// through memory). Each step evaluates the network, then updates x by the
// kernels of its mode; in mode SAMPLER_OFF they all do nothing and the
// graph just evaluates the network.
enum { SAMPLER_OFF, SAMPLER_PREDICTOR, SAMPLER_CORRECTOR, SAMPLER_LEVEL, SAMPLER_ODE, SAMPLER_CONSISTENCY };

// The phases of a fixed-step ODE sampler's evaluation, as sde.ODEPhase.
enum { ODE_EULER, ODE_HEUN_PREDICT, ODE_HEUN_CORRECT };

struct sampler_ctl {
	double t;           // the time the score is evaluated at
	double f, g2;       // predictor: drift coefficient and squared diffusion at t
	double dt;          // predictor: the step, negative
	double noise;       // predictor: g sqrt(-dt); consistency: the scale of the noise added to x
	long long last;     // predictor: no noise on the last step
	uint64_t draw;      // Philox draw of this step's noise
	double score_scale; // the network predicts noise: score = eps_hat * score_scale (-1/std(t))
	long long mode;     // SAMPLER_*
	uint64_t seed;      // keys the noise, with draw
	double snr, alpha;  // corrector: the step-size rule's snr and alpha
	long long offset;   // the noise's element index of x[0]: the batch's first image in the run * its size
	double a, b, c;     // level: x = a x + b score + c z (c = 0: no noise); consistency: c_in, c_skip, c_out
	long long phase;    // ode: ODE_*
	double k, h, m_next; // ode: the slope's factor, the step, the next input's scale
	uint64_t stream;     // level, consistency: the Philox stream of the step's noise
};

// fill_time: t[i] = ctl->t for the score network's time input.
extern "C" __global__ void fill_time(float *t, int n, const sampler_ctl *ctl) {
	if (ctl->mode == SAMPLER_OFF) return;
	float v = (float)ctl->t;
	grid_stride(i, n) t[i] = v;
}

// em_step, the predictor: one Euler-Maruyama step of the reverse SDE from t
// to t + dt: x += (f x - g^2 score) dt + g sqrt(-dt) z, with z from
// elements ctl->offset, ... of (ctl->seed, STREAM_PREDICTOR, ctl->draw) and
// the score from the network's output eps_hat.
extern "C" __global__ void em_step(float *x, const float *eps_hat, long long n, const sampler_ctl *ctl) {
	if (ctl->mode != SAMPLER_PREDICTOR) return;
	double f = ctl->f, g2 = ctl->g2, dt = ctl->dt, noise = ctl->noise;
	float scale = (float)ctl->score_scale;
	bool last = ctl->last != 0;
	uint64_t draw = ctl->draw, seed = ctl->seed;
	long long off = ctl->offset;
	grid_stride(j, n) {
		double xj = x[j];
		float s = eps_hat[j] * scale; // in float, as train.ScoreModel.Score
		double xm = xj + (f * xj - g2 * (double)s) * dt;
		if (!last) xm += noise * (double)normal_at(off + j, STREAM_PREDICTOR, draw, seed);
		x[j] = (float)xm;
	}
}

// level_step, a level sampler's step (sde.Ancestral, sde.DDIM,
// sde.AnnealedLangevin: its LevelStep): x = a x + b score + c z in double,
// with z from elements ctl->offset, ... of (ctl->seed, ctl->stream,
// ctl->draw), and none where c = 0 (the last step).
extern "C" __global__ void level_step(float *x, const float *eps_hat, long long n, const sampler_ctl *ctl) {
	if (ctl->mode != SAMPLER_LEVEL) return;
	double a = ctl->a, b = ctl->b, c = ctl->c;
	float scale = (float)ctl->score_scale;
	uint64_t draw = ctl->draw, seed = ctl->seed;
	uint32_t stream = (uint32_t)ctl->stream;
	long long off = ctl->offset;
	grid_stride(j, n) {
		float s = eps_hat[j] * scale; // in float, as train.ScoreModel.Score
		double v = __dadd_rn(__dmul_rn(a, (double)x[j]), __dmul_rn(b, (double)s));
		if (c != 0.0) v = __dadd_rn(v, __dmul_rn(c, (double)normal_at(off + j, stream, draw, seed)));
		x[j] = (float)v;
	}
}

// ode_begin: a fixed-step ODE sampler's start (sde.ODESchedule) from the
// prior in x: y = x / m0 in double, and x = m0 y rounded to float.
extern "C" __global__ void ode_begin(float *x, double *y, long long n, double m0) {
	grid_stride(j, n) {
		double v = (double)x[j] / m0;
		y[j] = v;
		x[j] = (float)(m0 * v);
	}
}

// ode_step: a fixed-step ODE sampler's update after one evaluation
// (sde.ODEEval), with s = eps_hat * score_scale in float (a velocity's
// scale is 1) and d = k s:
//
//	ODE_EULER:        y += h d;                 x = m_next y
//	ODE_HEUN_PREDICT: d1 = d;                   x = m_next (y + h d)
//	ODE_HEUN_CORRECT: y += h (d1 + d) / 2;      x = m_next y
//
// in double, each operation rounded as the CPU's (no fused multiply-add).
extern "C" __global__ void ode_step(float *x, double *y, double *d1, const float *eps_hat, long long n,
	const sampler_ctl *ctl) {
	if (ctl->mode != SAMPLER_ODE) return;
	float scale = (float)ctl->score_scale;
	double k = ctl->k, h = ctl->h, m = ctl->m_next;
	long long phase = ctl->phase;
	grid_stride(j, n) {
		double d = __dmul_rn(k, (double)(eps_hat[j] * scale));
		double v;
		if (phase == ODE_EULER) {
			v = __dadd_rn(y[j], __dmul_rn(h, d));
			y[j] = v;
		} else if (phase == ODE_HEUN_PREDICT) {
			d1[j] = d;
			v = __dadd_rn(y[j], __dmul_rn(h, d));
		} else {
			v = __dadd_rn(y[j], __dmul_rn(h, __dadd_rn(d1[j], d)) / 2.0);
			y[j] = v;
		}
		x[j] = (float)__dmul_rn(m, v);
	}
}

// The corrector is three kernels: its noise, the per-sample norms, and the
// step, whose size depends on the norms of the whole batch.

// ct_sample_in, before the network, and ct_sample_out, after it: a step
// of multistep consistency sampling (sde.Consistency's Sample with the
// consistency function of score.ScoreModel): the point v = x + noise z (z
// from elements ctl->offset, ... of (ctl->seed, ctl->stream, ctl->draw); v
// = x where noise = 0, the first step, whose x is the prior), kept in v;
// the network's input c_in v (sde.Consistency's Inputs); then x = f(v, t)
// = c_skip v + c_out F clipped to [-1, 1], in float as the CPU's, with a
// NaN kept so that the caller sees it.
extern "C" __global__ void ct_sample_in(float *x, float *v, long long n, const sampler_ctl *ctl) {
	if (ctl->mode != SAMPLER_CONSISTENCY) return;
	double noise = ctl->noise, c_in = ctl->a;
	uint64_t draw = ctl->draw, seed = ctl->seed;
	uint32_t stream = (uint32_t)ctl->stream;
	long long off = ctl->offset;
	grid_stride(j, n) {
		float vj = x[j];
		if (noise != 0.0) vj = (float)__dadd_rn((double)vj, __dmul_rn(noise, (double)normal_at(off + j, stream, draw, seed)));
		v[j] = vj;
		x[j] = (float)__dmul_rn(c_in, (double)vj);
	}
}

extern "C" __global__ void ct_sample_out(float *x, const float *v, const float *out, long long n, const sampler_ctl *ctl) {
	if (ctl->mode != SAMPLER_CONSISTENCY) return;
	double c_skip = ctl->b;
	float c_out = (float)ctl->c;
	grid_stride(j, n) {
		float y = __fadd_rn((float)__dmul_rn(c_skip, (double)v[j]), __fmul_rn(c_out, out[j]));
		x[j] = y != y ? y : fminf(fmaxf(y, -1.f), 1.f);
	}
}

// langevin_noise: z ~ N(0, I) from elements ctl->offset, ... of
// (ctl->seed, STREAM_CORRECTOR, ctl->draw).
extern "C" __global__ void langevin_noise(float *z, long long n, const sampler_ctl *ctl) {
	if (ctl->mode != SAMPLER_CORRECTOR) return;
	uint64_t draw = ctl->draw, seed = ctl->seed;
	long long off = ctl->offset;
	grid_stride(j, n) z[j] = normal_at(off + j, STREAM_CORRECTOR, draw, seed);
}

// langevin_norms: norms[2i], norms[2i+1] = |score_i|, |z_i| for sample i
// (block i) of d elements.
extern "C" __global__ void langevin_norms(double *norms, const float *eps_hat, const float *z, long long d,
	const sampler_ctl *ctl) {
	if (ctl->mode != SAMPLER_CORRECTOR) return;
	__shared__ double sh[32];
	float scale = (float)ctl->score_scale;
	long long off = blockIdx.x * d;
	double gg = 0.0, zz = 0.0;
	for (long long j = threadIdx.x; j < d; j += blockDim.x) {
		double g = eps_hat[off + j] * scale, e = z[off + j];
		gg += g * g;
		zz += e * e;
	}
	gg = block_sum(gg, sh);
	zz = block_sum(zz, sh);
	if (threadIdx.x == 0) { norms[2 * blockIdx.x] = sqrt(gg); norms[2 * blockIdx.x + 1] = sqrt(zz); }
}

// langevin_step: x += e score + sqrt(2e) z with score_sde's step size
// e = 2 alpha (snr |z| / |score|)^2, the norms averaged over the batch (in
// the CPU code's order). When the mean score norm is not finite and
// positive, x is left alone and bad[0] = 1, bad[1] = that norm, which the
// host turns into the CPU code's error.
extern "C" __global__ void langevin_step(float *x, const float *eps_hat, const float *z, const double *norms,
	int batch, long long n, const sampler_ctl *ctl, double *bad) {
	if (ctl->mode != SAMPLER_CORRECTOR) return;
	double gn = 0.0, zn = 0.0;
	for (int i = 0; i < batch; i++) { gn += norms[2 * i]; zn += norms[2 * i + 1]; }
	gn /= batch;
	zn /= batch;
	if (!(gn > 0.0) || isinf(gn)) {
		if (blockIdx.x == 0 && threadIdx.x == 0) { bad[0] = 1.0; bad[1] = gn; }
		return;
	}
	float scale = (float)ctl->score_scale;
	double r = ctl->snr * zn / gn, e = 2.0 * ctl->alpha * r * r, amp = sqrt(2.0 * e);
	grid_stride(j, n) {
		float s = eps_hat[j] * scale;
		x[j] = (float)((double)x[j] + e * (double)s + amp * (double)z[j]);
	}
}
