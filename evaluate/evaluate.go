// Package evaluate scores models by numbers rather than by eye: generated
// images against a data set's test images, through the features and class
// probabilities of the project's own judge network (package quality's
// metrics), and a checkpoint's likelihood of the test set. Command eval is
// its front end.
package evaluate

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/floats"

	"github.com/scoregen/scoregen/data"
	"github.com/scoregen/scoregen/model"
	"github.com/scoregen/scoregen/quality"
)

// Judge is the feature network that scores images of one data set
// (package classify's judge, a classifier trained by the project).
type Judge interface {
	// Dataset is the data.name the judge was trained on.
	Dataset() string
	// Dim is the length of an image's features.
	Dim() int
	// Run returns, for the n images in x (NCHW, in [-1, 1]), their
	// features (n rows of the judge's feature dimension) and their class
	// probabilities (n rows of 10), row-major.
	Run(x []float32, n int) (features, probs []float64, err error)
}

// rangeSlack is how far outside [-1, 1] a sample may lie: samplers clip
// their last step, but a float32 round trip may not land exactly on 1.
const rangeSlack = 1e-3

// referenceSeed draws the test and training images that samples are
// compared with: a fixed random subset rather than the first images,
// since MNIST's test set is ordered (its first half is the easier one).
const referenceSeed = 0x5C0E

// Score scores the n generated images x (NCHW, in [-1, 1], of test's image
// shape) against m = min(n, test.N, train.N) test images, a fixed random
// subset, with the judge's features: the Fréchet distance, KID and
// precision and recall against them, the judge's confidence and class
// entropy on the samples, and the Fréchet distance's floor: those test
// images against m training images, what a model that reproduced the data
// would score with m samples (n > m samples score a little lower). It is
// NewReference(j, test, train, m).Score(x, n).
//
// Precision and recall are computed on features scaled to unit length, a
// departure from Kynkäänniemi et al., whose features are Inception's: the
// small judge's features follow a ReLU, and images unlike any digit (noise,
// blank) land near the origin, inside the real set's k-NN balls, where
// they would count as precise; on the unit sphere they do not.
func Score(j Judge, x []float32, n int, test, train *data.Dataset) (quality.Report, error) {
	ref, err := NewReference(j, test, train, min(n, test.N, train.N))
	if err != nil {
		return quality.Report{}, err
	}
	return ref.Score(x, n)
}

// Reference is what samples are scored against, computed once so that
// scoring over training does not run the judge on the real images each
// time: m test images' features and moments, and the floor.
type Reference struct {
	judge    Judge
	test     *data.Dataset
	testFeat quality.Vectors
	testM    quality.Moments
	floor    float64
}

// NewReference runs the judge on m test and m training images, each a
// fixed random subset of its set, for Reference.Score.
func NewReference(j Judge, test, train *data.Dataset, m int) (*Reference, error) {
	if j.Dataset() != test.Name {
		return nil, fmt.Errorf("the judge was trained on %s, the samples are scored against %s: want a judge of %s (--judge)", j.Dataset(), test.Name, test.Name)
	}
	if m < 2 || m > min(test.N, train.N) {
		return nil, fmt.Errorf("%d reference images: want 2 to %d, the smaller of the %s test and training sets", m, min(test.N, train.N), test.Name)
	}
	testFeat, _, err := features(j, subset(test, m), m, "test images")
	if err != nil {
		return nil, err
	}
	trainFeat, _, err := features(j, subset(train, m), m, "training images")
	if err != nil {
		return nil, err
	}
	r := &Reference{judge: j, test: test, testFeat: testFeat}
	if r.testM, err = quality.MomentsOf(testFeat); err != nil {
		return nil, fmt.Errorf("the test images' features: %w", err)
	}
	trainM, err := quality.MomentsOf(trainFeat)
	if err != nil {
		return nil, fmt.Errorf("the training images' features: %w", err)
	}
	if r.floor, err = quality.Frechet(r.testM, trainM); err != nil {
		return nil, err
	}
	return r, nil
}

// Score scores the n generated images x against the reference, as the
// function Score describes.
func (ref *Reference) Score(x []float32, n int) (quality.Report, error) {
	test := ref.test
	d := test.C * test.H * test.W
	if n < 2 || len(x) != n*d {
		return quality.Report{}, fmt.Errorf("%d values for %d samples: want at least 2 images of %dx%dx%d (%s)", len(x), n, test.C, test.H, test.W, test.Name)
	}
	lowest := float32(math.Inf(1))
	for i, v := range x {
		if !(math.Abs(float64(v)) <= 1+rangeSlack) {
			return quality.Report{}, fmt.Errorf("sample %d holds %g: want values in [-1, 1], as cmd/sample's .npy holds them", i/d, v)
		}
		lowest = min(lowest, v)
	}
	if lowest >= 0 {
		return quality.Report{}, fmt.Errorf("no sample value is below 0: want images in [-1, 1], not [0, 1] (scale them by 2x-1)")
	}
	gen, genProbs, err := features(ref.judge, x, n, "samples")
	if err != nil {
		return quality.Report{}, err
	}
	r := quality.Report{FDFloor: ref.floor}
	genM, err := quality.MomentsOf(gen)
	if err != nil {
		return r, fmt.Errorf("the samples' features: %w", err)
	}
	if r.FD, err = quality.Frechet(genM, ref.testM); err != nil {
		return r, err
	}
	kid, err := quality.KID(gen, ref.testFeat, quality.KIDOptions{Seed: 1})
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
	if r.Precision, r.Recall, err = quality.PrecisionRecall(unitLength(ref.testFeat), unitLength(gen), 0); err != nil {
		return r, err
	}
	return r, nil
}

// subset is m images of ds, drawn without replacement by referenceSeed.
func subset(ds *data.Dataset, m int) []float32 {
	d := ds.C * ds.H * ds.W
	x := make([]float32, m*d)
	for i, k := range rand.New(rand.NewPCG(referenceSeed, uint64(ds.N))).Perm(ds.N)[:m] {
		ds.Images(x[i*d:(i+1)*d], k, 1)
	}
	return x
}

// unitLength is v with each vector scaled to length 1 (a zero vector is
// left at the origin).
func unitLength(v quality.Vectors) quality.Vectors {
	u := quality.Vectors{Data: make([]float64, len(v.Data)), D: v.D}
	for i := range v.N() {
		row := v.Data[i*v.D : (i+1)*v.D]
		if norm := floats.Norm(row, 2); norm > 0 {
			floats.ScaleTo(u.Data[i*v.D:(i+1)*v.D], 1/norm, row)
		}
	}
	return u
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
// when limit is 0) with the weights w under a model that has a likelihood
// (model.LikelihoodScorer: a score network's bits/dim by the probability-
// flow ODE; or a model.Evaluator whose figures hold bits/dim: a VAE's
// negative ELBO and importance-weighted bound), each figure with its
// standard error.
func Likelihood(f model.Family, w model.Weights, test *data.Dataset, limit int, o model.SampleOptions) (map[string]float64, error) {
	var score func(model.Weights, *data.Dataset, model.SampleOptions) (map[string]float64, error)
	switch e := f.(type) {
	case model.LikelihoodScorer:
		score = e.Likelihood
	case model.Evaluator:
		score = e.Evaluate
	default:
		return nil, fmt.Errorf("--bpd: model.type %s has no test-set likelihood here (unet and vae have)", f.Type())
	}
	if limit < 0 || limit > test.N {
		return nil, fmt.Errorf("--limit %d: want 0 (all) to %d, the %s test set's images", limit, test.N, test.Name)
	}
	if limit > 0 {
		test = firstImages(test, limit)
	}
	figures, err := score(w, test, o)
	if err != nil {
		return nil, err
	}
	if _, ok := figures["bits_per_dim"]; !ok {
		return nil, fmt.Errorf("--bpd: model.type %s scores the test set, but not by a likelihood (unet and vae do)", f.Type())
	}
	return figures, nil
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
