package classify

import (
	"fmt"
	"math"

	"github.com/scoregen/scoregen/ckpt"
	"github.com/scoregen/scoregen/model"
)

// judgeBatch is the images of one of the Judge's batches.
const judgeBatch = 256

// Judge is a trained classifier that scores images: its penultimate
// features (for Fréchet distances between sample and data sets) and its
// class probabilities (for the Inception score and class balance). Its
// features are its own, not Inception's: figures computed with them are
// comparable with each other, not with published FIDs.
type Judge struct {
	fw      *forward
	dataset string
	path    string
}

// OpenJudge loads the newest intact checkpoint in ckptDir (or the file
// ckptDir) of a classifier and compiles its network, with the weights'
// moving averages where kept, on device ("cpu" or "cuda"; "" for the
// checkpoint's). A checkpoint of another model.type is refused.
func OpenJudge(ckptDir, device string) (*Judge, error) {
	c, err := ckpt.Open(ckptDir)
	if err != nil {
		return nil, fmt.Errorf("judge %s: %w", ckptDir, err)
	}
	if c.Family != "classifier" {
		return nil, fmt.Errorf("judge %s: %s is a checkpoint of model.type %s, want one of model.type classifier (configs/mnist_classifier.yaml, fashion_classifier.yaml)",
			ckptDir, c.Path, c.Family)
	}
	f, err := New(c.Config)
	if err != nil {
		return nil, fmt.Errorf("judge %s: %w", ckptDir, err)
	}
	if device == "" {
		device = c.Config.Device
	}
	fw, err := f.newForward(c.Weights, judgeBatch, model.SampleOptions{Device: device, GPU: c.Config.GPU, EMA: true})
	if err != nil {
		return nil, fmt.Errorf("judge %s: %w", ckptDir, err)
	}
	return &Judge{fw: fw, dataset: c.Config.Data.Name, path: c.Path}, nil
}

// Dataset is the data set the judge was trained on (data.name): its
// features mean something only for images like that set's.
func (j *Judge) Dataset() string { return j.dataset }

// Checkpoint is the file the judge's weights came from.
func (j *Judge) Checkpoint() string { return j.path }

// Dim is the length of an image's features (classifier.features).
func (j *Judge) Dim() int { return j.fw.dim }

// Run scores the n images (NCHW, in [-1, 1], of the judge's data set's
// shape) in batches: features [n, Dim()], the penultimate layer (after
// its ReLU, so some units may be 0 for every image and the features'
// covariance singular), and probs [n, Classes], the softmax of the logits
// computed in float64. On the CPU an image's figures do not depend on the
// other images it is scored with.
func (j *Judge) Run(images []float32, n int) (features, probs []float64, err error) {
	if n < 0 || len(images) != n*j.fw.imageSize {
		return nil, nil, fmt.Errorf("judge: %d images of %d values are %d values, got %d", n, j.fw.imageSize, n*j.fw.imageSize, len(images))
	}
	features, probs = make([]float64, n*j.fw.dim), make([]float64, n*Classes)
	for first := 0; first < n; first += j.fw.batch {
		m := min(j.fw.batch, n-first)
		feat, logits, err := j.fw.run(images[first*j.fw.imageSize:], m)
		if err != nil {
			return nil, nil, err
		}
		for i, v := range feat {
			features[first*j.fw.dim+i] = float64(v)
		}
		for i := range m {
			p := probs[(first+i)*Classes : (first+i+1)*Classes]
			logSoftmax(p, logits[i*Classes:(i+1)*Classes])
			for k := range p {
				p[k] = math.Exp(p[k])
			}
		}
	}
	return features, probs, nil
}

// Close releases the judge's plan.
func (j *Judge) Close() { j.fw.close() }
