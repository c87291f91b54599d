package gpu

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"
)

// Each argument type lands in its holder as the kernel reads it: the low
// 4 bytes for a 32-bit parameter, all 8 for a 64-bit one, little-endian.
func TestPackArgs(t *testing.T) {
	var h [maxArgs]uint64
	args := []any{Ptr(0xdead0000), -3, int64(-5) << 33, uint32(7), uint64(1) << 40, float32(1.5), -2.25}
	if err := packArgs("k", args, &h); err != nil {
		t.Fatal(err)
	}
	bytes := func(i int) []byte { return binary.LittleEndian.AppendUint64(nil, h[i]) }
	if h[0] != 0xdead0000 {
		t.Errorf("Ptr: %#x", h[0])
	}
	if got := int32(binary.LittleEndian.Uint32(bytes(1))); got != -3 {
		t.Errorf("int read as int32: %d", got)
	}
	if got := int64(h[1]); got != -3 {
		t.Errorf("int read as int64: %d", got)
	}
	if got := int64(h[2]); got != int64(-5)<<33 {
		t.Errorf("int64: %d", got)
	}
	if h[3] != 7 || h[4] != 1<<40 {
		t.Errorf("uint32 %d, uint64 %d", h[3], h[4])
	}
	if got := math.Float32frombits(binary.LittleEndian.Uint32(bytes(5))); got != 1.5 {
		t.Errorf("float32: %v", got)
	}
	if got := math.Float64frombits(h[6]); got != -2.25 {
		t.Errorf("float64: %v", got)
	}
	if err := packArgs("normals", []any{Ptr(1), int32(2)}, &h); err == nil || !strings.Contains(err.Error(), "normals: argument 1 has type int32") {
		t.Errorf("an int32 argument: %v", err)
	}
	if err := packArgs("k", make([]any, maxArgs+1), &h); err == nil {
		t.Error("too many arguments were packed")
	}
}
