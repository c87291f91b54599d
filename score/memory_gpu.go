//go:build gpu

package score

import (
	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/gpu"
)

// planBackend is the backend whose scratch sizes a plan on device has; the
// GPU backend answers them without a device.
func planBackend(device string) (engine.Backend, error) {
	if device == "cuda" {
		return gpu.NewBackend(nil), nil
	}
	return cpuPlanBackend(device)
}

// deviceFree is the free memory of GPU 0, where plans are compiled.
func deviceFree() (int64, error) {
	free, _, err := gpu.MemInfo(0)
	return free, err
}
