// Package philox is the counter-based random generator Philox4x32-10 that
// every random draw of a step comes from (dropout masks, noising, sampler
// noise), so that the CPU and GPU backends draw the same numbers and a
// resumed run continues the same stream.
//
// Layout shared by all callers: element i of (seed, stream, draw) is lane
// i%4 of Block(Counter(i/4, stream, draw), Key(seed)).
package philox

import (
	"math"
	"math/bits"
)

// Philox4x32-10 (Salmon, Moraes, Dror and Shaw, "Parallel random numbers:
// as easy as 1, 2, 3", SC11; the Random123 library): element i's random bits
// are a pure function of (counter, key), so a kernel draws any element's
// number without state.
const (
	philoxM0 = 0xD2511F53 // round multipliers
	philoxM1 = 0xCD9E8D57
	philoxW0 = 0x9E3779B9 // key schedule increments (golden ratio, sqrt(3)-1)
	philoxW1 = 0xBB67AE85
)

// Block returns four random words for a 128-bit counter and 64-bit key.
func Block(ctr [4]uint32, key [2]uint32) [4]uint32 {
	for r := range 10 {
		if r > 0 {
			key[0] += philoxW0
			key[1] += philoxW1
		}
		hi0, lo0 := bits.Mul32(philoxM0, ctr[0])
		hi1, lo1 := bits.Mul32(philoxM1, ctr[2])
		ctr = [4]uint32{hi1 ^ ctr[1] ^ key[0], lo1, hi0 ^ ctr[3] ^ key[1], lo0}
	}
	return ctr
}

// Uniform24 maps random bits to [0, 1) using the top 24 bits, so the value is
// exact in float32 as well as float64.
func Uniform24(x uint32) float64 { return float64(x>>8) * 0x1p-24 }

// NormalPair turns two random words into two independent standard normals
// by the Box-Muller transform.
func NormalPair(a, b uint32) (float64, float64) {
	u1 := float64(a>>8+1) * 0x1p-24 // in (0, 1], so the log is finite
	u2 := Uniform24(b)
	r := math.Sqrt(-2 * math.Log(u1))
	s, c := math.Sincos(2 * math.Pi * u2)
	return r * c, r * s
}

// Key splits a 64-bit seed into the key (low word first).
func Key(seed uint64) [2]uint32 { return [2]uint32{uint32(seed), uint32(seed >> 32)} }

// Counter is the counter of block b (elements 4b..4b+3) of a stream's draw
// (a training step, a sampler step).
func Counter(b int, stream uint32, draw uint64) [4]uint32 {
	return [4]uint32{uint32(b), stream, uint32(draw), uint32(draw >> 32)}
}

// Normals draws the standard normals of one (seed, stream, draw): element j
// is lane j%4 of NormalPair(r[0], r[1]), NormalPair(r[2], r[3]) with
// r = Block(Counter(j/4, stream, draw), Key(seed)), as kernels/common.cuh's
// normal_at draws them. It caches the last block, so a caller walking j
// upwards pays one Philox call per four elements.
type Normals struct {
	key    [2]uint32
	stream uint32
	draw   uint64
	block  int // block held in vals; -1 for none
	vals   [4]float64
}

// NewNormals starts the normals of (seed, stream, draw).
func NewNormals(seed uint64, stream uint32, draw uint64) Normals {
	return Normals{key: Key(seed), stream: stream, draw: draw, block: -1}
}

// At returns element j's normal.
func (g *Normals) At(j int) float64 {
	if b := j / 4; b != g.block {
		r := Block(Counter(b, g.stream, g.draw), g.key)
		g.vals[0], g.vals[1] = NormalPair(r[0], r[1])
		g.vals[2], g.vals[3] = NormalPair(r[2], r[3])
		g.block = b
	}
	return g.vals[j%4]
}
