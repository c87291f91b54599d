//go:build !gpu

package score

import (
	"github.com/scoregen/scoregen/device"
	"github.com/scoregen/scoregen/engine"
)

// planBackend is the backend whose scratch sizes a plan on the named
// device has.
func planBackend(name string) (engine.Backend, error) {
	if name == "cuda" {
		return nil, device.ErrNoCUDA
	}
	return cpuPlanBackend(name)
}

// deviceFree is unreachable without the CUDA backend: planBackend refused.
func deviceFree() (int64, error) { return 0, device.ErrNoCUDA }
