package sde

import (
	"github.com/scoregen/scoregen/internal/par"
	"github.com/scoregen/scoregen/internal/philox"
)

// normals draws the standard normals of one (seed, stream, draw): element j
// is lane j%4 of philox.NormalPair(r[0], r[1]), philox.NormalPair(r[2], r[3]) with
// r = philox((j/4, stream, low32(draw), high32(draw)), philox.Key(seed)).
// It caches the last block, so a caller walking j upwards pays one Philox
// call per four elements.
type normals struct {
	key    [2]uint32
	stream uint32
	draw   uint64
	block  int // block held in vals; -1 for none
	vals   [4]float64
}

func newNormals(seed uint64, stream uint32, draw uint64) normals {
	return normals{key: philox.Key(seed), stream: stream, draw: draw, block: -1}
}

// at returns element j's normal.
func (g *normals) at(j int) float64 {
	if b := j / 4; b != g.block {
		r := philox.Block(philox.Counter(b, g.stream, g.draw), g.key)
		g.vals[0], g.vals[1] = philox.NormalPair(r[0], r[1])
		g.vals[2], g.vals[3] = philox.NormalPair(r[2], r[3])
		g.block = b
	}
	return g.vals[j%4]
}

// Normals writes the normals of (seed, stream, draw) from element off
// on to dst: element off+j at dst[j]. The samplers here draw theirs so, and
// so do families whose latents follow the same keying (the VAE's).
func Normals(dst []float32, seed uint64, stream uint32, draw uint64, off int) {
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
