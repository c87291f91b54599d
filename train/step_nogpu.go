//go:build !gpu

package train

import (
	"errors"

	"github.com/scoregen/scoregen/configs"
)

// newGPUStep is unavailable without the CUDA backend.
func newGPUStep(*stepGraph, *configs.Config) (stepper, error) {
	return nil, errors.New("device cuda: this binary was built without CUDA; build it with `make gpu` on a machine with the CUDA toolkit")
}
