package quality

import (
	"math/rand/v2"
	"testing"
)

// The sizes of an evaluation: 10000 samples' features of dimension 128.
const benchN, benchD = 10000, 128

func benchSets() (Vectors, Vectors) {
	rng := rand.New(rand.NewPCG(51, 52))
	mean, sd := make([]float64, benchD), ones(benchD)
	shift := make([]float64, benchD)
	for i := range shift {
		shift[i] = 0.1
	}
	return gaussian(rng, benchN, mean, sd), gaussian(rng, benchN, shift, sd)
}

func BenchmarkFrechetDistance(b *testing.B) {
	x, y := benchSets()
	for b.Loop() {
		if _, err := FrechetDistance(x, y); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPrecisionRecall(b *testing.B) {
	x, y := benchSets()
	for b.Loop() {
		if _, _, err := PrecisionRecall(x, y, 3); err != nil {
			b.Fatal(err)
		}
	}
}

// KID with its defaults: 100 subsets of 1000.
func BenchmarkKID(b *testing.B) {
	x, y := benchSets()
	for b.Loop() {
		if _, err := KID(x, y, KIDOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
