//go:build !gpu

package train

import (
	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/device"
)

// newGPURunner is unavailable without the CUDA backend.
func newGPURunner(*compiled, *configs.Config) (runner, error) {
	return nil, device.ErrNoCUDA
}
