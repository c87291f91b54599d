//go:build !gpu

package train

import "github.com/scoregen/scoregen/engine"

// planBackend is the backend whose scratch sizes a plan on device has.
func planBackend(device string) (engine.Backend, error) {
	if device == "cuda" {
		return nil, errNoCUDA
	}
	return cpuPlanBackend(device)
}

// deviceFree is unreachable without the CUDA backend: planBackend refused.
func deviceFree() (int64, error) { return 0, errNoCUDA }
