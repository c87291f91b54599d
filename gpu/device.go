//go:build gpu

package gpu

import (
	"errors"
	"fmt"
	"runtime"

	"gorgonia.org/cu"
)

// Options are the device's settings.
type Options struct {
	// TF32 lets cuBLAS use TF32 tensor cores for float32 products (about
	// 10 mantissa bits); FP32 is the default.
	TF32 bool
}

// Device is one GPU: its context lives on a locked OS thread, and every CUDA
// call runs there, through Do.
type Device struct {
	Name     string
	SMs      int   // streaming multiprocessors
	Major    int   // compute capability
	Minor    int   //
	TotalMem int64 // bytes

	dev     cu.Device
	ctx     cu.CUContext
	work    chan func()
	exited  chan struct{} // closed when the device's thread has released it
	stream  cu.Stream     // where kernels run
	copies  cu.Stream     // where host-to-device uploads run
	copied  cu.Event      // recorded on copies after each upload
	Pool    *Pool
	kernels map[string]cu.Function
	blas    *blas
}

// Open starts a context on GPU ordinal and loads the kernels and cuBLAS.
func Open(ordinal int, opt Options) (*Device, error) {
	n, err := cu.NumDevices()
	if err != nil {
		return nil, fmt.Errorf("gpu: counting devices: %w", err)
	}
	if ordinal < 0 || ordinal >= n {
		return nil, fmt.Errorf("gpu: device %d does not exist (%d found)", ordinal, n)
	}
	d := &Device{work: make(chan func()), exited: make(chan struct{})}
	started := make(chan error)
	go d.loop(ordinal, opt, started)
	if err := <-started; err != nil {
		return nil, err
	}
	return d, nil
}

// loop owns the OS thread that the context is current on.
func (d *Device) loop(ordinal int, opt Options, started chan<- error) {
	runtime.LockOSThread()
	defer close(d.exited)
	if err := d.init(ordinal, opt); err != nil {
		d.release() // what init made before it failed
		started <- err
		return
	}
	started <- nil
	for fn := range d.work {
		fn()
	}
	d.release()
}

func (d *Device) init(ordinal int, opt Options) (err error) {
	if d.dev, err = cu.GetDevice(ordinal); err != nil {
		return fmt.Errorf("gpu: device %d: %w", ordinal, err)
	}
	if d.Name, err = d.dev.Name(); err != nil {
		return fmt.Errorf("gpu: device %d: %w", ordinal, err)
	}
	for _, a := range []struct {
		p    *int
		attr cu.DeviceAttribute
	}{{&d.SMs, cu.MultiprocessorCount}, {&d.Major, cu.ComputeCapabilityMajor}, {&d.Minor, cu.ComputeCapabilityMinor}} {
		if *a.p, err = d.dev.Attribute(a.attr); err != nil {
			return fmt.Errorf("gpu: %s: reading attributes: %w", d.Name, err)
		}
	}
	if d.Major < 8 {
		return fmt.Errorf("gpu: %s has compute capability %d.%d; the kernels need 8.0 or later", d.Name, d.Major, d.Minor)
	}
	if d.TotalMem, err = d.dev.TotalMem(); err != nil {
		return fmt.Errorf("gpu: %s: %w", d.Name, err)
	}
	if d.ctx, err = d.dev.MakeContext(cu.SchedBlockingSync); err != nil {
		return fmt.Errorf("gpu: %s: creating a context: %w", d.Name, err)
	}
	if d.stream, err = cu.MakeStream(cu.NonBlocking); err != nil {
		return fmt.Errorf("gpu: %s: creating a stream: %w", d.Name, err)
	}
	if d.copies, err = cu.MakeStream(cu.NonBlocking); err != nil {
		return fmt.Errorf("gpu: %s: creating a stream: %w", d.Name, err)
	}
	if d.copied, err = cu.MakeEvent(cu.DisableTiming); err != nil {
		return fmt.Errorf("gpu: %s: creating an event: %w", d.Name, err)
	}
	d.Pool = newPool()
	if d.kernels, err = loadKernels(); err != nil {
		return err
	}
	if d.blas, err = openBLAS(d.stream, d.Pool, opt.TF32); err != nil {
		return err
	}
	return nil
}

// release frees what init made, also when init stopped part way. The
// streams are idle: Close waited for them, and after a failed init nothing
// ran.
func (d *Device) release() {
	d.blas.close()
	if d.Pool != nil {
		d.Pool.release()
	}
	for _, st := range []*cu.Stream{&d.stream, &d.copies} {
		if *st != (cu.Stream{}) {
			st.Destroy()
		}
	}
	if d.copied != (cu.Event{}) {
		cu.DestroyEvent(&d.copied)
	}
	if d.ctx != (cu.CUContext{}) {
		d.ctx.Destroy()
	}
}

// Do runs fn on the device's thread, where the context is current, and
// returns its error. Launch, Gemm and the other calls that take no lock
// themselves must run inside Do (a plan's steps do).
func (d *Device) Do(fn func() error) error {
	if d.work == nil {
		return errors.New("gpu: device is closed")
	}
	done := make(chan error, 1)
	d.work <- func() { done <- fn() }
	return <-done
}

// Close waits for the device's work to finish and releases it.
func (d *Device) Close() error {
	if d.work == nil {
		return nil
	}
	err := d.Do(func() error {
		if err := d.copies.Synchronize(); err != nil {
			return err
		}
		return d.stream.Synchronize()
	})
	close(d.work)
	d.work = nil
	<-d.exited
	return err
}

// Sync waits until every kernel launched so far has finished.
func (d *Device) Sync() error { return d.stream.Synchronize() }

// BLAS is the cuBLAS in use: the file opened and cuBLAS's own version.
func (d *Device) BLAS() (path, version string) { return d.blas.path, d.blas.version }

// MemInfo is the free and total memory of GPU ordinal, read before a
// context is opened there to compile a plan. It reads them in a context of
// its own, which takes what the real one will, so that the free figure is
// what is left for the plan.
func MemInfo(ordinal int) (free, total int64, err error) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // the context is current on this thread only
		defer runtime.UnlockOSThread()
		var dev cu.Device
		if dev, err = cu.GetDevice(ordinal); err != nil {
			err = fmt.Errorf("gpu: device %d: %w", ordinal, err)
			return
		}
		ctx, e := dev.MakeContext(cu.SchedBlockingSync)
		if e != nil {
			err = fmt.Errorf("gpu: device %d: creating a context: %w", ordinal, e)
			return
		}
		defer ctx.Destroy()
		if free, total, err = cu.MemInfo(); err != nil {
			err = fmt.Errorf("gpu: device %d: reading its free memory: %w", ordinal, err)
		}
	}()
	<-done
	return free, total, err
}

func (d *Device) String() string {
	return fmt.Sprintf("%s (compute %d.%d, %d SMs, %.0f GiB)", d.Name, d.Major, d.Minor, d.SMs, float64(d.TotalMem)/(1<<30))
}
