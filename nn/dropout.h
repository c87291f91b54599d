// The C side of Dropout's float32 kernel (dropout.c); dropout.go calls it.
#include <stdint.h>

void nn_dropout(const float *x, float *out, int64_t n, int64_t lo, int64_t hi,
		uint32_t stream, uint64_t step, uint64_t seed, uint32_t threshold, float scale);
