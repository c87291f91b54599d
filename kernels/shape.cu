// shape.cu: ops that only move data: concat and split along the channel
// axis (nn/concat.go) and 2x nearest upsampling (nn/upsample.go), forward
// and backward.
#include "common.cuh"

// copy_rows copies rows rows of len elements: dst[r*dstride + doff + j] =
// src[r*sstride + soff + j]. Concat is one call per input, split one call.
extern "C" __global__ void copy_rows(float *dst, const float *src, long long rows, long long len,
	long long dstride, long long doff, long long sstride, long long soff) {
	grid_stride(e, rows * len) {
		long long r = e / len, j = e % len;
		dst[r * dstride + doff + j] = src[r * sstride + soff + j];
	}
}

// upsample2x: y[.., 2i+a, 2j+b] = x[.., i, j] over planes of h x w.
extern "C" __global__ void upsample2x(float *y, const float *x, long long planes, int h, int w) {
	long long W = 2 * w, n = planes * 4 * h * w;
	grid_stride(e, n) {
		long long ox = e % W, oy = e / W % (2 * h), pl = e / (W * 2 * h);
		y[e] = x[(pl * h + oy / 2) * w + ox / 2];
	}
}

// upsample2x_bwd: dx[.., i, j] = the sum of the four gradients it fed.
extern "C" __global__ void upsample2x_bwd(float *dx, const float *g, long long planes, int h, int w) {
	long long W = 2 * w;
	grid_stride(e, planes * h * w) {
		long long j = e % w, i = e / w % h, pl = e / ((long long)w * h);
		const float *r0 = g + (pl * 2 * h + 2 * i) * W + 2 * j, *r1 = r0 + W;
		dx[e] = r0[0] + r0[1] + r1[0] + r1[1]; // in the CPU kernel's order
	}
}
