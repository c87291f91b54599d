package classify

import (
	"fmt"

	"github.com/scoregen/scoregen/data"
	"github.com/scoregen/scoregen/model"
)

// evalBatch is the images of one evaluation batch.
const evalBatch = 500

// Evaluate classifies the test images with the weights w (their averages
// with o.EMA) and returns "accuracy", the fraction labelled right (the
// largest logit, the first where several tie), and "cross_entropy", the
// mean -log p(label | image) in nats, summed in float64.
func (f *Family) Evaluate(w model.Weights, test *data.Dataset, o model.SampleOptions) (map[string]float64, error) {
	if test.C != f.c || test.H != f.h || test.W != f.w {
		return nil, fmt.Errorf("classifier: test set %s has %dx%dx%d images, the model %dx%dx%d", test.Name, test.C, test.H, test.W, f.c, f.h, f.w)
	}
	if test.N < 1 || len(test.Labels) != test.N {
		return nil, fmt.Errorf("classifier: test set %s has %d images and %d labels: want at least one image, each labelled", test.Name, test.N, len(test.Labels))
	}
	fw, err := f.newForward(w, min(evalBatch, test.N), o)
	if err != nil {
		return nil, err
	}
	defer fw.close()
	x := make([]float32, fw.batch*fw.imageSize)
	logp := make([]float64, Classes)
	var hits int
	var nll float64
	for first := 0; first < test.N; first += fw.batch {
		n := min(fw.batch, test.N-first)
		test.Images(x, first, n)
		_, logits, err := fw.run(x, n)
		if err != nil {
			return nil, err
		}
		for i := range n {
			label := int(test.Labels[first+i])
			if label >= Classes {
				return nil, fmt.Errorf("classifier: test set %s: image %d has label %d, want 0 to %d", test.Name, first+i, label, Classes-1)
			}
			logSoftmax(logp, logits[i*Classes:(i+1)*Classes])
			nll -= logp[label]
			if argmax(logp) == label {
				hits++
			}
		}
	}
	return map[string]float64{"accuracy": float64(hits) / float64(test.N), "cross_entropy": nll / float64(test.N)}, nil
}

// argmax is the index of v's largest element, the first where several tie.
func argmax(v []float64) int {
	best := 0
	for j := range v {
		if v[j] > v[best] {
			best = j
		}
	}
	return best
}
