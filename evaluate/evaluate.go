// Package evaluate scores models by numbers rather than by eye: generated
// images against a data set's test images, through the features and class
// probabilities of the project's own judge network (package quality's
// metrics), and a checkpoint's likelihood of the test set. Command eval is
// its front end.
package evaluate

import (
	"fmt"
	"math"

	"github.com/scoregen/scoregen/data"
	"github.com/scoregen/scoregen/model"
	"github.com/scoregen/scoregen/quality"
)

// Judge is the feature network that scores images of one data set
// (package classify's judge, a classifier trained by the project).
type Judge interface {
	// Dataset is the data.name the judge was trained on.
	Dataset() string
	// Run returns, for the n images in x (NCHW, in [-1, 1]), their
	// features (n rows of the judge's feature dimension) and their class
	// probabilities (n rows of 10), row-major.
	Run(x []float32, n int) (features, probs []float64, err error)
}

// rangeSlack is how far outside [-1, 1] a sample may lie: samplers clip
// their last step, but a float32 round trip may not land exactly on 1.
const rangeSlack = 1e-3

// Score scores the n generated images x (NCHW, in [-1, 1], of test's image
// shape) against the first min(n, test.N) images of the test set, with the
// judge's features: the Fréchet distance, KID and precision and recall
// against the test images, the judge's confidence and class entropy on
// the samples, and the Fréchet distance's floor: the same test images
// against as many training images, what a model that reproduced the data
// would score at this sample size.
func Score(j Judge, x []float32, n int, test, train *data.Dataset) (quality.Report, error) {
	if j.Dataset() != test.Name {
		return quality.Report{}, fmt.Errorf("the judge was trained on %s, the samples are scored against %s: want a judge of %s (--judge)", j.Dataset(), test.Name, test.Name)
	}
	d := test.C * test.H * test.W
	if n < 2 || len(x) != n*d {
		return quality.Report{}, fmt.Errorf("%d values for %d samples: want at least 2 images of %dx%dx%d (%s)", len(x), n, test.C, test.H, test.W, test.Name)
	}
	for i, v := range x {
		if !(math.Abs(float64(v)) <= 1+rangeSlack) {
			return quality.Report{}, fmt.Errorf("sample %d holds %g: want values in [-1, 1], as cmd/sample's .npy holds them", i/d, v)
		}
	}
	m := min(n, test.N, train.N)
	real := make([]float32, m*d)
	test.Images(real, 0, m)
	other := make([]float32, m*d)
	train.Images(other, 0, m)

	gen, genProbs, err := features(j, x, n, "samples")
	if err != nil {
		return quality.Report{}, err
	}
	testFeat, _, err := features(j, real, m, "test images")
	if err != nil {
		return quality.Report{}, err
	}
	trainFeat, _, err := features(j, other, m, "training images")
	if err != nil {
		return quality.Report{}, err
	}
	var r quality.Report
	if r.FD, err = quality.FrechetDistance(gen, testFeat); err != nil {
		return r, fmt.Errorf("the Fréchet distance of %d samples: %w (draw more samples: --n)", n, err)
	}
	if r.FDFloor, err = quality.FrechetDistance(testFeat, trainFeat); err != nil {
		return r, fmt.Errorf("the Fréchet distance's floor: %w", err)
	}
	kid, err := quality.KID(gen, testFeat, quality.KIDOptions{Seed: 1})
	if err != nil {
		return r, err
	}
	r.KID, r.KIDSE = kid.Mean, kid.SE
	if r.Confident, err = quality.ConfidentShare(genProbs, 0); err != nil {
		return r, err
	}
	if r.ClassEntropy, err = quality.ClassEntropy(genProbs); err != nil {
		return r, err
	}
	if r.Precision, r.Recall, err = quality.PrecisionRecall(testFeat, gen, 0); err != nil {
		return r, err
	}
	return r, nil
}

// features runs the judge on n images and checks what it returns.
func features(j Judge, x []float32, n int, what string) (feat, probs quality.Vectors, err error) {
	f, p, err := j.Run(x, n)
	if err != nil {
		return feat, probs, fmt.Errorf("the judge on the %s: %w", what, err)
	}
	if len(f) == 0 || len(f)%n != 0 || len(p)%n != 0 {
		return feat, probs, fmt.Errorf("the judge gave %d features and %d probabilities for %d %s: want whole rows", len(f), len(p), n, what)
	}
	return quality.Vectors{Data: f, D: len(f) / n}, quality.Vectors{Data: p, D: len(p) / n}, nil
}

// Likelihood scores the first limit images of the test set (all of them
// when limit is 0) under a model that scores held-out data
// (model.Evaluator: a VAE's negative ELBO and importance-weighted bound in
// nats and bits/dim, each with its standard error) with the weights w.
func Likelihood(f model.Family, w model.Weights, test *data.Dataset, limit int, o model.SampleOptions) (map[string]float64, error) {
	e, ok := f.(model.Evaluator)
	if !ok {
		return nil, fmt.Errorf("--bpd: model.type %s has no test-set likelihood here (vae has)", f.Type())
	}
	if limit < 0 || limit > test.N {
		return nil, fmt.Errorf("--limit %d: want 0 (all) to %d, the %s test set's images", limit, test.N, test.Name)
	}
	if limit > 0 {
		test = firstImages(test, limit)
	}
	return e.Evaluate(w, test, o)
}

// firstImages is the data set of the first n images of ds.
func firstImages(ds *data.Dataset, n int) *data.Dataset {
	d := ds.C * ds.H * ds.W
	head := *ds
	head.N, head.Pixels = n, ds.Pixels[:n*d]
	if len(ds.Labels) >= n {
		head.Labels = ds.Labels[:n]
	}
	return &head
}
