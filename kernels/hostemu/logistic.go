package hostemu

// #include <stdint.h>
// void disc_logistic_fwd(float *y, const float *x, const float *m, const float *ls, long long n);
// void disc_logistic_bwd(float *dy, const float *x, const float *m, const float *ls, const float *g, long long n, int wrt);
import "C"

// DiscLogisticFwd and DiscLogisticBwd run kernels/logistic.cu.
func DiscLogisticFwd(y, x, m, ls []float32) {
	C.disc_logistic_fwd(p(y), p(x), p(m), p(ls), C.longlong(len(y)))
}

func DiscLogisticBwd(dy, x, m, ls, g []float32, wrt int) {
	C.disc_logistic_bwd(p(dy), p(x), p(m), p(ls), p(g), C.longlong(len(dy)), C.int(wrt))
}
