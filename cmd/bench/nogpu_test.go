//go:build !gpu

package main

import (
	"strings"
	"testing"

	"github.com/spf13/viper"
)

// Without -tags gpu, --device cuda says how to get a CUDA build.
func TestCUDAWithoutGPUBuild(t *testing.T) {
	v := viper.New()
	for k, d := range map[string]any{"model": "mnist", "device": "cuda", "batch": 2, "steps": 1, "sample-batch": 2} {
		v.Set(k, d)
	}
	if err := run(v); err == nil || !strings.Contains(err.Error(), "make gpu") {
		t.Fatalf("err = %v, want one saying to build with make gpu", err)
	}
}
