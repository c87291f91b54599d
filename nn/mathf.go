package nn

import (
	"math"
	"unsafe"

	"github.com/scoregen/scoregen/engine"
)

// exp is e^x. The float32 instantiation uses a polynomial that is as
// accurate as float32 allows and several times faster than math.Exp, which
// matters because SiLU and GroupNorm's activations run over every pixel.
func exp[T engine.Float](x T) T {
	if unsafe.Sizeof(x) == 8 {
		return T(math.Exp(float64(x)))
	}
	return T(exp32(float32(x)))
}

// exp32 follows Cephes' expf: x = n ln2 + r with |r| <= ln2/2, then
// e^r by a degree-6 polynomial and 2^n by the exponent bits.
func exp32(x float32) float32 {
	switch {
	case x > 88.72283:
		return float32(math.Inf(1))
	case x < -87.33654:
		return 0
	}
	n := float32(math.Floor(float64(x*1.44269504088896341 + 0.5)))
	r := x - n*0.693359375 + n*2.12194440e-4
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	p = p*r*r + r + 1
	if n > 127 { // 2^n itself would overflow though e^x does not
		return 2 * p * math.Float32frombits(uint32(int32(n)+126)<<23)
	}
	return p * math.Float32frombits(uint32(int32(n)+127)<<23)
}
