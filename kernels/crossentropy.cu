// crossentropy.cu: a classifier's loss and accuracy (nn/crossentropy.go):
// the mean softmax cross-entropy of logits against targets
// (SoftmaxCrossEntropy), forward and backward, in double as the CPU kernel
// computes it, and the fraction of rows whose largest logit is at their
// largest target (Accuracy). A classifier's rows are short (10 classes),
// so one thread takes a whole row.
#include "common.cuh"

// ce_row returns row l's cross-entropy against t and sets *lse to its
// log-sum-exp (with the row's maximum subtracted before exp) and *tsum to
// the sum of t.
__device__ __forceinline__ double ce_row(const float *l, const float *t, int k, double *lse, double *tsum) {
	double m = l[0];
	for (int j = 1; j < k; j++) m = fmax(m, (double)l[j]);
	double s = 0.0;
	for (int j = 0; j < k; j++) s += exp((double)l[j] - m);
	*lse = m + log(s);
	double loss = 0.0, ts = 0.0;
	for (int j = 0; j < k; j++) {
		loss += (double)t[j] * (*lse - (double)l[j]);
		ts += t[j];
	}
	*tsum = ts;
	return loss;
}

// softmax_ce_fwd: out[0] = the mean over the n rows of k, in one block.
extern "C" __global__ void softmax_ce_fwd(float *out, const float *l, const float *t, int n, int k) {
	__shared__ double sh[32];
	double acc = 0.0;
	for (int r = threadIdx.x; r < n; r += blockDim.x) {
		double lse, tsum;
		acc += ce_row(l + (long long)r * k, t + (long long)r * k, k, &lse, &tsum);
	}
	acc = block_sum(acc, sh);
	if (threadIdx.x == 0) out[0] = (float)(acc / (double)n);
}

// softmax_ce_bwd: d = g/n (softmax(l) tsum - t) by the logits (wrt 0) or
// g/n (lse - l) by the targets (wrt 1), g the loss's gradient (a scalar in
// device memory); a thread per row.
extern "C" __global__ void softmax_ce_bwd(float *d, const float *l, const float *t, const float *g, int n, int k, int wrt) {
	double f = (double)g[0] / (double)n;
	grid_stride(r, n) {
		const float *lr = l + r * k, *tr = t + r * k;
		float *dr = d + r * k;
		double lse, tsum;
		ce_row(lr, tr, k, &lse, &tsum);
		for (int j = 0; j < k; j++)
			dr[j] = (float)(wrt == 0 ? f * (exp((double)lr[j] - lse) * tsum - (double)tr[j]) : f * (lse - (double)lr[j]));
	}
}

// argmax_row is the index of v's largest of k, the first where several tie.
__device__ __forceinline__ int argmax_row(const float *v, int k) {
	int best = 0;
	for (int j = 1; j < k; j++)
		if (v[j] > v[best]) best = j;
	return best;
}

// accuracy: out[0] = the fraction of the n rows whose largest logit is at
// their largest target, in one block.
extern "C" __global__ void accuracy(float *out, const float *l, const float *t, int n, int k) {
	__shared__ double sh[32];
	double hits = 0.0;
	for (int r = threadIdx.x; r < n; r += blockDim.x)
		hits += argmax_row(l + (long long)r * k, k) == argmax_row(t + (long long)r * k, k) ? 1.0 : 0.0;
	hits = block_sum(hits, sh);
	if (threadIdx.x == 0) out[0] = (float)(hits / (double)n);
}
