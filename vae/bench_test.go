package vae

import (
	"fmt"
	"testing"

	"github.com/scoregen/scoregen/data"
	"github.com/scoregen/scoregen/model"
)

// BenchmarkTrainStep times one training step (forward, backward, Adam) of
// the MNIST VAE of configs/mnist_vae.yaml on the CPU, at its batch of 64
// and at 128, and reports images/s.
func BenchmarkTrainStep(b *testing.B) {
	for _, batch := range []int{64, 128} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			f := newFamily(b, "vae.latent=32", "vae.ch=32")
			tr := newTrainer(b, f, batch, 1)
			x := blobs(batch, 28, 28, 1)
			tr.step(b, x)
			b.ResetTimer()
			for range b.N {
				tr.step(b, x)
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

// BenchmarkEvaluate times the test-set bounds of the default MNIST VAE
// with K = 100 draws per image on the CPU and reports test images/s.
func BenchmarkEvaluate(b *testing.B) {
	f := newFamily(b)
	w := newTrainer(b, f, 2, 1).weights()
	const n = 50
	test := &data.Dataset{Name: "blobs", N: n, C: 1, H: 28, W: 28, Pixels: make([]uint8, n*28*28)}
	for i, v := range blobs(n, 28, 28, 1) {
		test.Pixels[i] = uint8((v + 1) * 127.5)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := f.Evaluate(w, test, model.SampleOptions{Device: "cpu"}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "images/s")
}
