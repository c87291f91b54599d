package philox

import (
	"math"
	"testing"
)

// Random123's known-answer vectors for Philox4x32-10 (its tests/kat_vectors,
// also used by TensorFlow's and others' Philox tests): zeros, all ones, and
// counter and key taken from the hex digits of pi.
func TestPhiloxKnownAnswers(t *testing.T) {
	for _, c := range []struct {
		ctr  [4]uint32
		key  [2]uint32
		want [4]uint32
	}{
		{[4]uint32{0, 0, 0, 0}, [2]uint32{0, 0},
			[4]uint32{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
		{[4]uint32{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, [2]uint32{0xffffffff, 0xffffffff},
			[4]uint32{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
		{[4]uint32{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, [2]uint32{0xa4093822, 0x299f31d0},
			[4]uint32{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
	} {
		if got := Block(c.ctr, c.key); got != c.want {
			t.Errorf("Block(%08x, %08x) = %08x, want %08x", c.ctr, c.key, got, c.want)
		}
	}
}

func TestUniform24Range(t *testing.T) {
	for _, c := range []struct {
		x    uint32
		want float64
	}{{0, 0}, {0xff, 0}, {0x100, 0x1p-24}, {0x80000000, 0.5}, {0xffffffff, 1 - 0x1p-24}} {
		if got := Uniform24(c.x); got != c.want {
			t.Errorf("Uniform24(%#x) = %g, want %g", c.x, got, c.want)
		}
		if got := float64(float32(Uniform24(c.x))); got != c.want {
			t.Errorf("Uniform24(%#x) is not exact in float32", c.x)
		}
	}
}

// TestPhiloxMoments checks the first two moments of uniforms and normals
// drawn along a counter, each within 5 standard errors.
func TestPhiloxMoments(t *testing.T) {
	const n = 1 << 18 // draws of 4 words
	key := [2]uint32{0xdeadbeef, 12345}
	var su, suu, sz, szz float64
	for i := range uint32(n) {
		r := Block([4]uint32{i, 7, 0, 0}, key)
		for _, w := range r {
			u := Uniform24(w)
			su += u
			suu += u * u
		}
		for _, p := range [][2]uint32{{r[0], r[1]}, {r[2], r[3]}} {
			z0, z1 := NormalPair(p[0], p[1])
			sz += z0 + z1
			szz += z0*z0 + z1*z1
		}
	}
	m := float64(4 * n)
	within := func(what string, got, want, sd float64) {
		if math.Abs(got-want) > 5*sd/math.Sqrt(m) {
			t.Errorf("%s = %g, want %g within %g", what, got, want, 5*sd/math.Sqrt(m))
		}
	}
	within("mean of uniforms", su/m, 0.5, math.Sqrt(1.0/12))
	within("mean of squared uniforms", suu/m, 1.0/3, math.Sqrt(1.0/5-1.0/9))
	within("mean of normals", sz/m, 0, 1)
	within("mean of squared normals", szz/m, 1, math.Sqrt(2))
}

// Normals gives element j of the documented layout in any order of j (its
// cache of one block must not leak into another).
func TestNormalsLayout(t *testing.T) {
	const seed, stream, draw = 0x0123456789abcdef, 9, 1<<32 + 3
	g := NewNormals(seed, stream, draw)
	for _, j := range []int{0, 1, 2, 3, 4, 9, 8, 7, 3, 1 << 20, 5, 4*1000 + 2} {
		r := Block(Counter(j/4, stream, draw), Key(seed))
		a, b := NormalPair(r[0], r[1])
		c, d := NormalPair(r[2], r[3])
		if got, want := g.At(j), [4]float64{a, b, c, d}[j%4]; got != want {
			t.Fatalf("At(%d) = %v, want %v", j, got, want)
		}
	}
}
