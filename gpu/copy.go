//go:build gpu

package gpu

import (
	"fmt"
	"unsafe"

	"gorgonia.org/cu"
)

// Copies and fills that the host asks for run on the device's stream, like
// the kernels, so that they are ordered with them (the stream does not
// synchronise with CUDA's legacy default stream). All run inside Do.

// CopyIn copies bytes from host memory to dst and waits for the copy, so
// that src may change once it returns.
func (d *Device) CopyIn(dst Ptr, src unsafe.Pointer, bytes int64) error {
	if err := cu.MemcpyHtoDAsync(cu.DevicePtr(dst), src, bytes, d.stream); err != nil {
		return fmt.Errorf("gpu: copying %d bytes to the device: %w", bytes, err)
	}
	if err := d.stream.Synchronize(); err != nil {
		return fmt.Errorf("gpu: copying %d bytes to the device: %w", bytes, err)
	}
	return nil
}

// CopyOut waits for the device's work, then copies bytes from src to host
// memory.
func (d *Device) CopyOut(dst unsafe.Pointer, src Ptr, bytes int64) error {
	if err := d.stream.Synchronize(); err != nil {
		return fmt.Errorf("gpu: %w", err)
	}
	if err := cu.MemcpyDtoH(dst, cu.DevicePtr(src), bytes); err != nil {
		return fmt.Errorf("gpu: copying %d bytes from the device: %w", bytes, err)
	}
	return nil
}

// CopyOnDevice copies bytes from src to dst on the device.
func (d *Device) CopyOnDevice(dst, src Ptr, bytes int64) error {
	if err := cu.MemcpyDtoDAsync(cu.DevicePtr(dst), cu.DevicePtr(src), bytes, d.stream); err != nil {
		return fmt.Errorf("gpu: copying %d bytes on the device: %w", bytes, err)
	}
	return nil
}

// Fill32 sets n 32-bit words at dst to v.
func (d *Device) Fill32(dst Ptr, v uint32, n int) error {
	if err := cu.MemsetD32Async(cu.DevicePtr(dst), uint(v), int64(n), d.stream); err != nil {
		return fmt.Errorf("gpu: filling %d words: %w", n, err)
	}
	return nil
}
