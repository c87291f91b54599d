// Package quality scores generated samples from feature vectors: the
// Fréchet distance, the kernel distance (KID), a classifier's confidence
// and class entropy, and precision and recall in feature space. It knows
// no network: the caller extracts features (and softmax probabilities)
// with a classifier and passes them here as row-major float64 slices.
package quality

import (
	"fmt"
	"math"
)

// Vectors is N vectors of dimension D, row-major: vector i is
// Data[i*D : (i+1)*D]. Features and class probabilities both come in it.
type Vectors struct {
	Data []float64
	D    int
}

// N is the number of vectors.
func (v Vectors) N() int {
	if v.D <= 0 {
		return 0
	}
	return len(v.Data) / v.D
}

func (v Vectors) row(i int) []float64 { return v.Data[i*v.D : (i+1)*v.D] }

// check returns an error naming what when v is not whole vectors of a
// positive dimension, or holds NaN or an infinity.
func (v Vectors) check(what string) error {
	if v.D <= 0 {
		return fmt.Errorf("quality: %s: dimension %d; want at least 1", what, v.D)
	}
	if len(v.Data)%v.D != 0 {
		return fmt.Errorf("quality: %s: %d values are not whole vectors of dimension %d", what, len(v.Data), v.D)
	}
	for i, x := range v.Data {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("quality: %s: vector %d, element %d is %g; want finite values", what, i/v.D, i%v.D, x)
		}
	}
	return nil
}

// checkPair checks both sets and that their dimensions agree.
func checkPair(a, b Vectors, nameA, nameB string) error {
	if err := a.check(nameA); err != nil {
		return err
	}
	if err := b.check(nameB); err != nil {
		return err
	}
	if a.D != b.D {
		return fmt.Errorf("quality: %s has dimension %d, %s %d; want the same features for both", nameA, a.D, nameB, b.D)
	}
	return nil
}
