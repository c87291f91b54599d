package gpu

import (
	"fmt"
	"math"
)

// Ptr is a device address.
type Ptr uintptr

// Add is the address n float32 elements further on.
func (p Ptr) Add(n int) Ptr { return p + Ptr(4*n) }

// maxArgs is the most arguments a kernel launch takes.
const maxArgs = 24

// packArgs puts each kernel argument in an 8-byte holder, as cu's Launch
// reads them (it copies 8 bytes from every argument pointer). An argument
// is a Ptr, int or int64 (passed as int32 or int64, as the kernel declares:
// both read correctly from an 8-byte little-endian holder), uint32, uint64,
// float32 or float64; any other type is an error naming the kernel and the
// argument. It needs no GPU, so it builds without the tag gpu and is tested
// on any machine.
func packArgs(kernel string, args []any, holders *[maxArgs]uint64) error {
	if len(args) > len(holders) {
		return fmt.Errorf("gpu: kernel %s: %d arguments, at most %d", kernel, len(args), len(holders))
	}
	for i, a := range args {
		switch v := a.(type) {
		case Ptr:
			holders[i] = uint64(v)
		case int:
			holders[i] = uint64(int64(v))
		case int64:
			holders[i] = uint64(v)
		case uint32:
			holders[i] = uint64(v)
		case uint64:
			holders[i] = v
		case float32:
			holders[i] = uint64(math.Float32bits(v))
		case float64:
			holders[i] = math.Float64bits(v)
		default:
			return fmt.Errorf("gpu: kernel %s: argument %d has type %T", kernel, i, a)
		}
	}
	return nil
}
