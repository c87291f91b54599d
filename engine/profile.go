package engine

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"gorgonia.org/tensor"
)

// FlopOp is implemented by ops whose arithmetic is worth counting (matrix
// products and convolutions): Flops is the floating-point operations of one
// call for inputs of these shapes, 2 per multiply-add.
type FlopOp interface {
	Flops(in []tensor.Shape) float64
}

// LibraryOp is implemented by ops whose CPU kernel calls a library (a GEMM
// or a convolution primitive): Library names it, for the profile, for a
// call with BF16 products allowed or not (Call.BF16).
type LibraryOp interface {
	Library(bf16 bool) string
}

// OpTime is the time that the CPU kernels of one op family took while the
// profile was on: the family is the op's name up to its parameters
// ("Conv2d(stride=1,pad=1)" is "Conv2d").
type OpTime struct {
	Family  string
	Library string // what the kernel calls, if anything
	Calls   int
	Seconds float64
	Flops   float64
}

// The profile is process-wide, like runtime/pprof's: it times the kernels of
// the plans compiled on the CPU backend while it is on, without any change to
// the code that builds and runs them.
var profile struct {
	sync.Mutex
	on       bool
	families map[string]*OpTime
}

// StartProfile makes every CPU plan compiled from now on time its kernels;
// ResetProfile and Profile read and clear what they have taken.
func StartProfile() {
	profile.Lock()
	defer profile.Unlock()
	profile.on = true
	if profile.families == nil {
		profile.families = map[string]*OpTime{}
	}
}

// StopProfile stops timing the plans compiled from now on (those compiled
// while it was on go on adding to it).
func StopProfile() {
	profile.Lock()
	defer profile.Unlock()
	profile.on = false
}

// ResetProfile clears the times taken so far, so that warm-up steps do not
// count.
func ResetProfile() {
	profile.Lock()
	defer profile.Unlock()
	for _, t := range profile.families {
		t.Calls, t.Seconds, t.Flops = 0, 0, 0
	}
}

// Profile is the time taken so far by each op family that ran, longest
// first.
func Profile() []OpTime {
	profile.Lock()
	defer profile.Unlock()
	var out []OpTime
	for _, t := range profile.families {
		if t.Calls > 0 {
			out = append(out, *t)
		}
	}
	slices.SortFunc(out, func(a, b OpTime) int {
		if a.Seconds != b.Seconds {
			if a.Seconds > b.Seconds {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Family, b.Family)
	})
	return out
}

// family is the profile's entry for op, or nil when the profile is off.
func family(op any, bf16 bool) *OpTime {
	profile.Lock()
	defer profile.Unlock()
	if !profile.on {
		return nil
	}
	name := fmt.Sprint(op)
	if i := strings.IndexAny(name, "(→"); i > 0 {
		name = name[:i]
	}
	var lib string
	if l, ok := op.(LibraryOp); ok {
		lib = l.Library(bf16)
	}
	key := name + "\x00" + lib
	t := profile.families[key]
	if t == nil {
		t = &OpTime{Family: name, Library: lib}
		profile.families[key] = t
	}
	return t
}

// timed wraps a bound kernel so that each run adds its time (and its FLOPs,
// for a FlopOp) to t. Plans run one kernel at a time, so the entries are
// written by one goroutine at a time.
func timed(t *OpTime, op any, in []Slot, run func()) func() {
	var flops float64
	if f, ok := op.(FlopOp); ok {
		shapes := make([]tensor.Shape, len(in))
		for i, s := range in {
			shapes[i] = s.Shape
		}
		flops = f.Flops(shapes)
	}
	return func() {
		start := time.Now()
		run()
		t.Seconds += time.Since(start).Seconds()
		t.Calls++
		t.Flops += flops
	}
}
