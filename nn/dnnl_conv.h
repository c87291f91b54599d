// The C side of nn's oneDNN convolutions (dnnl.c); dnnl.go is the Go side.
#include <oneapi/dnnl/dnnl.h>

enum { CONV_FORWARD, CONV_BACKWARD_DATA, CONV_BACKWARD_WEIGHTS };

struct conv;

// nn_conv_new makes the primitive for one layer: geom is n, c, h, w, k, kh,
// kw, oh, ow, stride, pad; with bf16 it multiplies in BF16 (accumulating in
// FP32). On failure it returns NULL with the reason in err.
struct conv *nn_conv_new(int kind, const int *geom, int bias, int bf16, char *err, int errlen);
int nn_conv_run(struct conv *c, float *d0, float *d1, float *d2, float *d3);
const char *nn_conv_impl(struct conv *c);
void nn_conv_free(struct conv *c);
const char *nn_dnnl_isa_name(void);
int nn_dnnl_has_bf16(void);
