//go:build gpu

package gpu

import (
	"fmt"
	"slices"

	"gorgonia.org/cu"
)

// Pool is a caching allocator of device memory. Small requests are carved
// from 2 MiB blocks; large ones get an allocation of their own. Freed
// memory is kept for reuse by a request of the same rounded size, since
// cuMemAlloc and cuMemFree synchronise the device and cost milliseconds.
// Its methods run on the device's thread (inside Device.Do).
type Pool struct {
	size   map[Ptr]int64   // every live allocation's rounded size
	free   map[int64][]Ptr // cached, by rounded size
	blocks []cu.DevicePtr  // every cuMemAlloc, freed by release
	bump   Ptr             // next free byte of the current small block
	left   int64           // bytes left there

	InUse, Peak, Reserved int64 // bytes handed out now, at most so far, and taken from the driver
}

const (
	poolAlign  = 512     // bytes; keeps every buffer 16-byte aligned for vector loads
	smallLimit = 1 << 20 // requests up to 1 MiB come from shared blocks
	smallBlock = 2 << 20
)

func newPool() *Pool { return &Pool{size: map[Ptr]int64{}, free: map[int64][]Ptr{}} }

// Alloc returns bytes of device memory (contents undefined).
func (p *Pool) Alloc(bytes int64) (Ptr, error) {
	if bytes <= 0 {
		return 0, fmt.Errorf("gpu: allocating %d bytes", bytes)
	}
	n := (bytes + poolAlign - 1) / poolAlign * poolAlign
	var ptr Ptr
	if c := p.free[n]; len(c) > 0 {
		ptr, p.free[n] = c[len(c)-1], c[:len(c)-1]
	} else if n <= smallLimit {
		if p.left < n {
			b, err := p.driverAlloc(smallBlock)
			if err != nil {
				return 0, err
			}
			p.bump, p.left = b, smallBlock
		}
		ptr, p.bump, p.left = p.bump, p.bump+Ptr(n), p.left-n
	} else {
		var err error
		if ptr, err = p.driverAlloc(n); err != nil {
			return 0, err
		}
	}
	p.size[ptr] = n
	p.InUse += n
	p.Peak = max(p.Peak, p.InUse)
	return ptr, nil
}

// Free returns memory from Alloc to the pool's cache.
func (p *Pool) Free(ptr Ptr) {
	n, ok := p.size[ptr]
	if !ok {
		panic(fmt.Sprintf("gpu: freeing %#x, which the pool did not allocate", ptr)) // a bug in this package
	}
	delete(p.size, ptr)
	p.InUse -= n
	p.free[n] = append(p.free[n], ptr)
}

// driverAlloc takes n bytes from the driver; when it has none left, the
// cached large buffers go back first and it tries once more.
func (p *Pool) driverAlloc(n int64) (Ptr, error) {
	d, err := cu.MemAlloc(n)
	if err != nil && p.trim() {
		d, err = cu.MemAlloc(n)
	}
	if err != nil {
		return 0, fmt.Errorf("gpu: allocating %.1f MiB (%.1f MiB in use, %.1f MiB reserved): %w",
			float64(n)/(1<<20), float64(p.InUse)/(1<<20), float64(p.Reserved)/(1<<20), err)
	}
	p.blocks = append(p.blocks, d)
	p.Reserved += n
	return Ptr(d), nil
}

// trim frees the cached large buffers, reporting whether there were any.
// (Each large buffer is a driver allocation of its own; small ones share
// blocks, which stay.)
func (p *Pool) trim() bool {
	freed := false
	for n, c := range p.free {
		if n <= smallLimit {
			continue
		}
		for _, ptr := range c {
			p.blocks = slices.DeleteFunc(p.blocks, func(b cu.DevicePtr) bool { return Ptr(b) == ptr })
			cu.MemFree(cu.DevicePtr(ptr)) // an error would leave the memory taken, which is no worse
			p.Reserved -= n
			freed = true
		}
		delete(p.free, n)
	}
	return freed
}

// release frees all the pool's memory with the context.
func (p *Pool) release() {
	for _, b := range p.blocks {
		cu.MemFree(b)
	}
	*p = *newPool()
}
