package nn

// The float32 dropout kernels call dropout.c, which draws the Philox masks
// of 16 blocks at a time in vector registers: drawn one block at a time in
// Go, the masks took a tenth of a U-Net training step.

/*
#include "dropout.h"
*/
import "C"

import (
	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/internal/par"
)

func bindDrop32(d drop, c *engine.Call[float32]) func() {
	out, x := cfloats(c.Out.Data), cfloats(c.In[0].Data)
	n, thr, scale, rng := len(c.In[0].Data), C.uint32_t(dropThreshold(d.p)), C.float(1/(1-d.p)), d.rng
	body := func(lo, hi int) {
		C.nn_dropout(x, out, C.int64_t(n), C.int64_t(lo), C.int64_t(hi), C.uint32_t(d.stream),
			C.uint64_t(rng.Step), C.uint64_t(rng.Seed), thr, scale)
	}
	blocks := (n + 3) / 4
	return func() { par.For(blocks, grain/4, body) }
}
