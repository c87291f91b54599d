package nn

// The float32 GroupNorm kernels call groupnorm.c, which the compiler
// vectorises (e^x included): in Go the SiLU's e^x ran one element at a
// time and GroupNorm took over 40% of a U-Net training step once the
// convolutions ran on oneDNN.

/*
#cgo CFLAGS: -O3 -fopenmp-simd
#cgo LDFLAGS: -lm
#include "groupnorm.h"
*/
import "C"

import (
	"unsafe"

	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/internal/par"
)

// cfloats is s for C: its first element, nil for a nil slice.
func cfloats(s []float32) *C.float { return (*C.float)(unsafe.Pointer(unsafe.SliceData(s))) }

// gnArgs are the sizes every GroupNorm kernel of groupnorm.c takes.
type gnArgs struct {
	l    gnLayout
	eps  C.double
	silu C.int
}

func newGNArgs(l gnLayout, eps float64, act Act) gnArgs {
	return gnArgs{l: l, eps: C.double(eps), silu: cBool(act == SiLU)}
}

func bindGroupNorm32(a gnArgs, c *engine.Call[float32]) func() {
	l := a.l
	y, x, gamma, beta := cfloats(c.Out.Data), cfloats(c.In[0].Data), cfloats(c.In[1].Data), cfloats(c.In[2].Data)
	body := func(lo, hi int) {
		C.nn_gn_forward(x, y, gamma, beta, C.int(lo), C.int(hi), C.int(l.g), C.int(l.d), C.int(l.s), a.eps, a.silu)
	}
	return func() { par.For(l.n*l.g, max(1, grain/(l.d*l.s)), body) }
}

func bindGroupNormGradX32(a gnArgs, c *engine.Call[float32]) func() {
	l := a.l
	dx, x, gamma, beta, dy := cfloats(c.Out.Data), cfloats(c.In[0].Data), cfloats(c.In[1].Data), cfloats(c.In[2].Data), cfloats(c.In[3].Data)
	body := func(lo, hi int) {
		C.nn_gn_backward_x(x, dy, dx, gamma, beta, C.int(lo), C.int(hi), C.int(l.g), C.int(l.d), C.int(l.s), a.eps, a.silu)
	}
	return func() { par.For(l.n*l.g, max(1, grain/(l.d*l.s)), body) }
}

func bindGroupNormGradAffine32(a gnArgs, c *engine.Call[float32]) func() {
	l := a.l
	out, x, gamma, beta, dy := cfloats(c.Out.Data), cfloats(c.In[0].Data), cfloats(c.In[1].Data), cfloats(c.In[2].Data), cfloats(c.In[3].Data)
	stats := make([]float32, 2*l.n*l.g)
	st := cfloats(stats)
	statsBody := func(lo, hi int) { C.nn_gn_stats(x, st, C.int(lo), C.int(hi), C.int(l.d*l.s), a.eps) }
	body := func(lo, hi int) {
		C.nn_gn_backward_affine(x, dy, st, gamma, beta, out, C.int(lo), C.int(hi), C.int(l.n), C.int(l.c), C.int(l.g), C.int(l.d), C.int(l.s), a.silu)
	}
	return func() {
		par.For(l.n*l.g, max(1, grain/(l.d*l.s)), statsBody)
		par.For(l.c, max(1, grain/(l.n*l.s)), body)
	}
}
