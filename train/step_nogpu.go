//go:build !gpu

package train

import (
	"errors"

	"github.com/scoregen/scoregen/configs"
)

var errNoCUDA = errors.New("device cuda: this binary was built without CUDA; build it with `make gpu` on a machine with the CUDA toolkit")

// newGPUStep is unavailable without the CUDA backend.
func newGPUStep(*stepGraph, *configs.Config) (stepper, error) {
	return nil, errNoCUDA
}
