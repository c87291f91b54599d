//go:build !gpu

package train

import "github.com/scoregen/scoregen/configs"

func compileGPUScore(*ScoreModel, configs.GPU) error {
	return errNoCUDA
}
