package main

import (
	"strings"
	"testing"

	"github.com/spf13/viper"
)

func TestBadFlagsAreClearErrors(t *testing.T) {
	for _, c := range []struct {
		set  map[string]any
		want string
	}{
		{map[string]any{"model": "imagenet"}, `--model "imagenet": want mnist, cifar10, tiny, vae, dcgan or wgangp`},
		{map[string]any{"device": "tpu"}, `--device "tpu"`},
		{map[string]any{"batch": 0}, "--batch 0"},
		{map[string]any{"steps": -1}, "--steps -1"},
		{map[string]any{"conv": "winograd"}, `--conv: convolution library "winograd"`},
		{map[string]any{"precision": "fp16"}, `precision = "fp16"`},
		{map[string]any{"precision": "bf16", "device": "cpu,cuda"}, "--precision bf16 is for the CPU"},
		{map[string]any{"sampler": "rk4", "sample-steps": 1}, `--sampler "rk4": want one of ancestral`},
		{map[string]any{"likelihood": -1}, "--likelihood -1 at least 0"},
		{map[string]any{"model": "vae", "likelihood": 64}, "--likelihood: only the reference U-Net"},
	} {
		v := viper.New()
		for k, d := range map[string]any{"model": "mnist", "device": "cpu", "batch": 2, "steps": 1, "sample-batch": 2, "sampler": "em"} {
			v.Set(k, d)
		}
		for k, x := range c.set {
			v.Set(k, x)
		}
		if err := run(v); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want it to say %q", c.set, err, c.want)
		}
	}
}
