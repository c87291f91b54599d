//go:build !gpu

package score

import (
	"fmt"

	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/device"
)

// compileGPUScore is unavailable without the CUDA backend.
func compileGPUScore(_ *ScoreModel, name string, _ configs.GPU) error {
	if name == "cuda" {
		return device.ErrNoCUDA
	}
	return fmt.Errorf("device %q: want cpu or cuda", name)
}
