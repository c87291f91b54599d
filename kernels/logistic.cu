// logistic.cu: the discretised logistic likelihood of 8-bit data (nn's
// DiscLogisticNLL, nn/logistic.go): -log P(x | m, ls) and its derivatives,
// in double as the CPU kernel computes them.
#include "common.cuh"

__device__ __forceinline__ double softplus_d(double x) { return fmax(x, 0.0) + log1p(exp(-fabs(x))); }
__device__ __forceinline__ double sigmoid_d(double x) { return 1.0 / (1.0 + exp(-x)); }

// disc_logistic returns -log P and sets *dm, *dls to its derivatives with
// respect to the mean and the log-scale (see nn/logistic.go).
__device__ __forceinline__ double disc_logistic(double x, double m, double ls, double *dm, double *dls) {
	const double half = 1.0 / 255.0;
	double k = fmin(fmax(rint((x + 1.0) * 127.5), 0.0), 255.0);
	x = k / 127.5 - 1.0;
	double inv = exp(-ls);
	double a = inv * (x - m + half), b = inv * (x - m - half);
	if (k == 0.0) {
		double fa = sigmoid_d(-a);
		*dm = inv * fa;
		*dls = a * fa;
		return softplus_d(-a);
	}
	if (k == 255.0) {
		double fb = -sigmoid_d(b);
		*dm = inv * fb;
		*dls = b * fb;
		return softplus_d(b);
	}
	double d = a - b, em = -expm1(-d), r = exp(-d) / em;
	double sa = sigmoid_d(-a), sb = sigmoid_d(b);
	*dm = inv * (sa - sb);
	*dls = a * sa - b * sb + d * r;
	return softplus_d(-a) + softplus_d(b) - log(em);
}

// disc_logistic_fwd: y = -log P(x | m, ls) element-wise.
extern "C" __global__ void disc_logistic_fwd(float *y, const float *x, const float *m, const float *ls, long long n) {
	grid_stride(i, n) {
		double dm, dls;
		y[i] = (float)disc_logistic(x[i], m[i], ls[i], &dm, &dls);
	}
}

// disc_logistic_bwd: dy = g times the derivative with respect to the mean
// (wrt 1) or the log-scale (wrt 2). dy may alias g.
extern "C" __global__ void disc_logistic_bwd(float *dy, const float *x, const float *m, const float *ls, const float *g, long long n, int wrt) {
	grid_stride(i, n) {
		double dm, dls;
		disc_logistic(x[i], m[i], ls[i], &dm, &dls);
		dy[i] = (float)(wrt == 1 ? dm : dls) * g[i];
	}
}
