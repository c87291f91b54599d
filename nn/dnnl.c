// oneDNN convolutions for the CPU kernels of Conv2d and its two gradients.
//
// A conv is one oneDNN primitive for one layer shape, created once when a
// plan binds its node and run every step. Our tensors stay in plain NCHW
// (and OIHW for weights); where the primitive prefers a blocked layout, the
// conv reorders its operands into and out of buffers that all convs share
// (plans run one kernel at a time), so the memory cost is that of the
// largest layer, not of every layer.
//
// Every primitive takes its scratchpad from us (dnnl_scratchpad_mode_user),
// one buffer that all share. oneDNN's own scratchpad may be shared per
// thread, and then a primitive must run on the thread that created it
// (dnnl_types.h), which Go cannot promise: a goroutine moves between
// threads, and finalizers free primitives on a thread of their own.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include "dnnl_conv.h"

static dnnl_engine_t engine;
static dnnl_stream_t stream;
// user_scratchpad makes a primitive take its scratchpad from us; every
// primitive is made with it.
static dnnl_primitive_attr_t user_scratchpad;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

// The shared buffers of reordered operands, one per port, grown by
// nn_conv_new (never while a step runs).
static void *pool[4];
static size_t pool_size[4];
static void *scratch;
static size_t scratch_size;

typedef struct {
	int arg;          // DNNL_ARG_*
	int output;       // written by the primitive
	dnnl_memory_t user;       // our plain-layout tensor
	dnnl_memory_t prim;       // the primitive's layout, or NULL when it is ours
	dnnl_primitive_t reorder; // user -> prim for inputs, prim -> user for outputs
	dnnl_memory_t reorder_scratch; // the reorder's scratchpad, or NULL
} port;

struct conv {
	dnnl_primitive_desc_t pd;
	dnnl_primitive_t prim;
	dnnl_memory_t scratch; // the primitive's scratchpad, or NULL
	port ports[4];
	int nports;
};

static int fail(char *err, int errlen, const char *what, dnnl_status_t s) {
	snprintf(err, errlen, "oneDNN: %s: status %d", what, (int)s);
	return -1;
}

#define CHECK(call, what)                                  \
	do {                                                   \
		dnnl_status_t s_ = (call);                         \
		if (s_ != dnnl_success) return fail(err, errlen, what, s_); \
	} while (0)

static int start(char *err, int errlen) {
	if (user_scratchpad) return 0; // made last: all is there
	if (!engine) CHECK(dnnl_engine_create(&engine, dnnl_cpu, 0), "engine");
	if (!stream) CHECK(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags), "stream");
	dnnl_primitive_attr_t attr;
	CHECK(dnnl_primitive_attr_create(&attr), "attributes");
	dnnl_status_t s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
	if (s != dnnl_success) {
		dnnl_primitive_attr_destroy(attr);
		return fail(err, errlen, "scratchpad mode", s);
	}
	user_scratchpad = attr;
	return 0;
}

// grow makes *buf hold at least size bytes, aligned to 64 as oneDNN
// aligns its own buffers (what the buffer held is not kept: every run
// writes it before reading it).
static int grow(void **buf, size_t *have, size_t size, char *err, int errlen) {
	if (size <= *have) return 0;
	void *b;
	if (posix_memalign(&b, 64, size)) return fail(err, errlen, "buffer", dnnl_out_of_memory);
	free(*buf);
	*buf = b;
	*have = size;
	return 0;
}

// scratchpad makes *m, the memory through which the primitive of pd gets
// its scratchpad (NULL when it needs none), and grows the shared buffer
// to fit it.
static int scratchpad(const_dnnl_primitive_desc_t pd, dnnl_memory_t *m, char *err, int errlen) {
	const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
	size_t size = md ? dnnl_memory_desc_get_size(md) : 0;
	if (size == 0) return 0;
	if (grow(&scratch, &scratch_size, size, err, errlen)) return -1;
	CHECK(dnnl_memory_create(m, md, engine, DNNL_MEMORY_NONE), "scratchpad");
	return 0;
}

// execute runs primitive p on its nargs arguments (args has room for one
// more) and its scratchpad m, if any.
static dnnl_status_t execute(dnnl_primitive_t p, dnnl_memory_t m, int nargs, dnnl_exec_arg_t *args) {
	if (m) {
		dnnl_memory_set_data_handle(m, scratch);
		args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, m};
	}
	return dnnl_primitive_execute(p, stream, nargs, args);
}

// add_port binds one operand: its plain layout (tag) and, when the
// primitive chose another, a reorder through shared buffer slot i.
static int add_port(struct conv *c, int arg, int output, int ndims, const dnnl_dims_t dims,
		dnnl_format_tag_t tag, dnnl_query_t query, int index, char *err, int errlen) {
	port *p = &c->ports[c->nports];
	int i = c->nports++;
	p->arg = arg;
	p->output = output;
	dnnl_memory_desc_t user;
	CHECK(dnnl_memory_desc_init_by_tag(&user, ndims, dims, dnnl_f32, tag), "plain layout");
	CHECK(dnnl_memory_create(&p->user, &user, engine, DNNL_MEMORY_NONE), "memory");
	const dnnl_memory_desc_t *want = dnnl_primitive_desc_query_md(c->pd, query, index);
	if (dnnl_memory_desc_equal(&user, want)) return 0;
	if (grow(&pool[i], &pool_size[i], dnnl_memory_desc_get_size(want), err, errlen)) return -1;
	CHECK(dnnl_memory_create(&p->prim, want, engine, DNNL_MEMORY_NONE), "memory");
	dnnl_primitive_desc_t rpd;
	if (output)
		CHECK(dnnl_reorder_primitive_desc_create(&rpd, want, engine, &user, engine, user_scratchpad), "reorder");
	else
		CHECK(dnnl_reorder_primitive_desc_create(&rpd, &user, engine, want, engine, user_scratchpad), "reorder");
	dnnl_status_t s = dnnl_primitive_create(&p->reorder, rpd);
	int bad = s == dnnl_success && scratchpad(rpd, &p->reorder_scratch, err, errlen);
	dnnl_primitive_desc_destroy(rpd);
	CHECK(s, "reorder");
	return bad ? -1 : 0;
}

static int build(struct conv *c, int kind, const int *g, int bias, int bf16, char *err, int errlen) {
	int n = g[0], ch = g[1], h = g[2], w = g[3], k = g[4], kh = g[5], kw = g[6], oh = g[7], ow = g[8];
	dnnl_dims_t x = {n, ch, h, w}, wt = {k, ch, kh, kw}, y = {n, k, oh, ow}, b = {k};
	dnnl_dims_t strides = {g[9], g[9]}, pad = {g[10], g[10]};
	// The padding on the far side makes (H + pl + pr - KH) / S + 1 == OH
	// exactly, as our geometry's floor division does.
	dnnl_dims_t pad_r = {(oh - 1) * g[9] + kh - h - g[10], (ow - 1) * g[9] + kw - w - g[10]};
	// The primitive chooses its layouts (format_tag_any). With bf16 the
	// operands it multiplies are BF16 and what it produces (y, dx, dw) is
	// FP32, accumulated in FP32: the reorders into its layouts convert.
	dnnl_data_type_t in = bf16 ? dnnl_bf16 : dnnl_f32;
	dnnl_memory_desc_t xd, wd, yd, bd, dxd, dwd, dyd;
	CHECK(dnnl_memory_desc_init_by_tag(&xd, 4, x, in, dnnl_format_tag_any), "layout");
	CHECK(dnnl_memory_desc_init_by_tag(&wd, 4, wt, in, dnnl_format_tag_any), "layout");
	CHECK(dnnl_memory_desc_init_by_tag(&yd, 4, y, dnnl_f32, dnnl_format_tag_any), "layout");
	CHECK(dnnl_memory_desc_init_by_tag(&bd, 1, b, dnnl_f32, dnnl_x), "layout");
	CHECK(dnnl_memory_desc_init_by_tag(&dxd, 4, x, dnnl_f32, dnnl_format_tag_any), "layout");
	CHECK(dnnl_memory_desc_init_by_tag(&dwd, 4, wt, dnnl_f32, dnnl_format_tag_any), "layout");
	CHECK(dnnl_memory_desc_init_by_tag(&dyd, 4, y, in, dnnl_format_tag_any), "layout");

	// Backward primitives need the forward one's descriptor as a hint.
	dnnl_convolution_desc_t fd;
	CHECK(dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct,
			&xd, &wd, bias ? &bd : NULL, &yd, strides, pad, pad_r), "forward descriptor");
	dnnl_primitive_desc_t fpd;
	CHECK(dnnl_primitive_desc_create(&fpd, &fd, user_scratchpad, engine, NULL), "forward primitive");
	if (kind == CONV_FORWARD) {
		c->pd = fpd;
	} else {
		dnnl_convolution_desc_t bdesc;
		dnnl_status_t s;
		if (kind == CONV_BACKWARD_DATA)
			s = dnnl_convolution_backward_data_desc_init(&bdesc, dnnl_convolution_direct, &dxd, &wd, &dyd, strides, pad, pad_r);
		else
			s = dnnl_convolution_backward_weights_desc_init(&bdesc, dnnl_convolution_direct, &xd, &dwd, NULL, &dyd, strides, pad, pad_r);
		if (s == dnnl_success) s = dnnl_primitive_desc_create(&c->pd, &bdesc, user_scratchpad, engine, fpd);
		dnnl_primitive_desc_destroy(fpd);
		CHECK(s, "backward primitive");
	}
	CHECK(dnnl_primitive_create(&c->prim, c->pd), "primitive");
	if (scratchpad(c->pd, &c->scratch, err, errlen)) return -1;

	switch (kind) {
	case CONV_FORWARD:
		if (add_port(c, DNNL_ARG_SRC, 0, 4, x, dnnl_nchw, dnnl_query_src_md, 0, err, errlen)) return -1;
		if (add_port(c, DNNL_ARG_WEIGHTS, 0, 4, wt, dnnl_oihw, dnnl_query_weights_md, 0, err, errlen)) return -1;
		if (bias && add_port(c, DNNL_ARG_BIAS, 0, 1, b, dnnl_x, dnnl_query_weights_md, 1, err, errlen)) return -1;
		if (!bias) c->nports++; // keep the output in slot 3
		return add_port(c, DNNL_ARG_DST, 1, 4, y, dnnl_nchw, dnnl_query_dst_md, 0, err, errlen);
	case CONV_BACKWARD_DATA:
		if (add_port(c, DNNL_ARG_DIFF_DST, 0, 4, y, dnnl_nchw, dnnl_query_diff_dst_md, 0, err, errlen)) return -1;
		if (add_port(c, DNNL_ARG_WEIGHTS, 0, 4, wt, dnnl_oihw, dnnl_query_weights_md, 0, err, errlen)) return -1;
		c->nports++;
		return add_port(c, DNNL_ARG_DIFF_SRC, 1, 4, x, dnnl_nchw, dnnl_query_diff_src_md, 0, err, errlen);
	default:
		if (add_port(c, DNNL_ARG_SRC, 0, 4, x, dnnl_nchw, dnnl_query_src_md, 0, err, errlen)) return -1;
		if (add_port(c, DNNL_ARG_DIFF_DST, 0, 4, y, dnnl_nchw, dnnl_query_diff_dst_md, 0, err, errlen)) return -1;
		c->nports++;
		return add_port(c, DNNL_ARG_DIFF_WEIGHTS, 1, 4, wt, dnnl_oihw, dnnl_query_diff_weights_md, 0, err, errlen);
	}
}

struct conv *nn_conv_new(int kind, const int *geom, int bias, int bf16, char *err, int errlen) {
	pthread_mutex_lock(&lock);
	struct conv *c = calloc(1, sizeof *c);
	int bad = !c || start(err, errlen) || build(c, kind, geom, bias, bf16, err, errlen);
	pthread_mutex_unlock(&lock);
	if (bad) {
		if (!c) snprintf(err, errlen, "oneDNN: out of memory");
		nn_conv_free(c);
		return NULL;
	}
	return c;
}

// nn_conv_run runs the primitive on data[i], the tensor of port i (NULL for an
// absent bias), the output last.
int nn_conv_run(struct conv *c, float *d0, float *d1, float *d2, float *d3) {
	float *data[4] = {d0, d1, d2, d3};
	dnnl_exec_arg_t args[5];
	int nargs = 0;
	pthread_mutex_lock(&lock);
	for (int i = 0; i < c->nports; i++) {
		port *p = &c->ports[i];
		if (!p->user) continue;
		dnnl_memory_set_data_handle(p->user, data[i]);
		dnnl_memory_t m = p->user;
		if (p->prim) {
			dnnl_memory_set_data_handle(p->prim, pool[i]);
			m = p->prim;
			if (!p->output) {
				dnnl_exec_arg_t r[3] = {{DNNL_ARG_FROM, p->user}, {DNNL_ARG_TO, p->prim}};
				execute(p->reorder, p->reorder_scratch, 2, r);
			}
		}
		args[nargs++] = (dnnl_exec_arg_t){p->arg, m};
	}
	dnnl_status_t s = execute(c->prim, c->scratch, nargs, args);
	port *out = &c->ports[3];
	if (s == dnnl_success && out->prim) {
		dnnl_exec_arg_t r[3] = {{DNNL_ARG_FROM, out->prim}, {DNNL_ARG_TO, out->user}};
		s = execute(out->reorder, out->reorder_scratch, 2, r);
	}
	if (s == dnnl_success) s = dnnl_stream_wait(stream);
	pthread_mutex_unlock(&lock);
	return (int)s;
}

const char *nn_conv_impl(struct conv *c) {
	const char *name = "?";
	dnnl_primitive_desc_query(c->pd, dnnl_query_impl_info_str, 0, &name);
	return name;
}

void nn_conv_free(struct conv *c) {
	if (!c) return;
	for (int i = 0; i < 4; i++) {
		port *p = &c->ports[i];
		if (p->user) dnnl_memory_destroy(p->user);
		if (p->prim) dnnl_memory_destroy(p->prim);
		if (p->reorder) dnnl_primitive_destroy(p->reorder);
		if (p->reorder_scratch) dnnl_memory_destroy(p->reorder_scratch);
	}
	if (c->scratch) dnnl_memory_destroy(c->scratch);
	if (c->prim) dnnl_primitive_destroy(c->prim);
	if (c->pd) dnnl_primitive_desc_destroy(c->pd);
	free(c);
}

const char *nn_dnnl_isa_name(void) {
	switch (dnnl_get_effective_cpu_isa()) {
	case dnnl_cpu_isa_avx512_core_amx: return "AVX-512 with AMX";
	case dnnl_cpu_isa_avx512_core_bf16: return "AVX-512 with BF16";
	case dnnl_cpu_isa_avx512_core_vnni: return "AVX-512 with VNNI";
	case dnnl_cpu_isa_avx512_core: return "AVX-512";
	case dnnl_cpu_isa_avx2_vnni: return "AVX2 with VNNI";
	case dnnl_cpu_isa_avx2: return "AVX2";
	default: return "pre-AVX2";
	}
}

int nn_dnnl_has_bf16(void) {
	dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
	return isa == dnnl_cpu_isa_avx512_core_bf16 || isa == dnnl_cpu_isa_avx512_core_amx;
}
