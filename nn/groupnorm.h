// The C side of GroupNorm's float32 kernels (groupnorm.c); groupnorm.go
// calls them. Ranges [lo, hi) are of (sample, group) pairs, or of channels
// for nn_gn_backward_affine; out of nn_gn_stats holds mean and rstd per pair.
void nn_gn_forward(const float *x, float *y, const float *gamma, const float *beta,
		int lo, int hi, int groups, int d, int s, double eps, int silu);
void nn_gn_backward_x(const float *x, const float *dy, float *dx, const float *gamma, const float *beta,
		int lo, int hi, int groups, int d, int s, double eps, int silu);
void nn_gn_stats(const float *x, float *out, int lo, int hi, int m, double eps);
void nn_gn_backward_affine(const float *x, const float *dy, const float *st, const float *gamma, const float *beta,
		float *out, int lo, int hi, int n, int c, int groups, int d, int s, int silu);
