package sde

import (
	"github.com/scoregen/scoregen/internal/par"
	"github.com/scoregen/scoregen/internal/philox"
)

// normals is philox.Normals (which nn's NormalLike draws from too): the
// standard normals of one (seed, stream, draw).
type normals struct{ philox.Normals }

func newNormals(seed uint64, stream uint32, draw uint64) normals {
	return normals{philox.NewNormals(seed, stream, draw)}
}

// at returns element j's normal.
func (g *normals) at(j int) float64 { return g.At(j) }

// fillNormals writes the normals of (seed, stream, draw) from element off
// on to dst: element off+j at dst[j].
func fillNormals(dst []float32, seed uint64, stream uint32, draw uint64, off int) {
	parallel(len(dst), len(dst), func(lo, hi int) {
		g := newNormals(seed, stream, draw)
		for j := lo; j < hi; j++ {
			dst[j] = float32(g.at(off + j))
		}
	})
}

// MaxElements is the length of one (seed, stream, draw) sequence of
// normals: the Philox counter holds the block index j/4 in 32 bits, so
// element MaxElements would repeat element 0. The samplers refuse batches
// that reach past it.
const MaxElements = 1 << 34

// minParallel is the least work (in elements) worth a goroutine.
const minParallel = 1 << 14

// parallel runs body over ranges covering [0, n) on all cores, giving each
// goroutine at least minParallel of the loop's work (elements touched).
func parallel(n, work int, body func(lo, hi int)) {
	par.For(n, max(1, n*minParallel/max(work, 1)), body)
}
