package quality

import (
	"fmt"
	"math"
)

// DefaultConfidence is the probability above which ConfidentShare counts a
// sample as confidently classified when given a threshold of 0.
const DefaultConfidence = 0.9

// ConfidentShare is the share of samples whose largest class probability
// is at least threshold (DefaultConfidence when 0): how many generated
// samples the classifier recognises as some class, a proxy for
// recognisability (the "confidence" half of the Inception score, Salimans
// et al. 2016, "Improved techniques for training GANs"). p holds one row of
// softmax probabilities per sample.
func ConfidentShare(p Vectors, threshold float64) (float64, error) {
	if threshold == 0 {
		threshold = DefaultConfidence
	}
	if threshold < 0 || threshold > 1 || math.IsNaN(threshold) {
		return 0, fmt.Errorf("quality: confidence threshold %g; want one in (0, 1]", threshold)
	}
	if err := checkProbs(p); err != nil {
		return 0, err
	}
	n := 0
	for i := range p.N() {
		if _, pmax := argmax(p.row(i)); pmax >= threshold {
			n++
		}
	}
	return float64(n) / float64(p.N()), nil
}

// ClassEntropy is the entropy in nats of the histogram of the samples'
// most probable classes, H = -sum_c q_c log q_c with q_c the share of
// samples whose argmax (the first, at ties) is c: log K when K classes are
// equally common, 0 when all samples fall in one. It measures the class
// coverage that the Inception score's marginal term rewards (Salimans et
// al. 2016), on hard labels so that it reads as "how many classes".
func ClassEntropy(p Vectors) (float64, error) {
	if err := checkProbs(p); err != nil {
		return 0, err
	}
	counts := make([]int, p.D)
	for i := range p.N() {
		c, _ := argmax(p.row(i))
		counts[c]++
	}
	n, h := float64(p.N()), 0.0
	for _, c := range counts {
		if c > 0 {
			q := float64(c) / n
			h -= q * math.Log(q)
		}
	}
	return h, nil
}

func argmax(row []float64) (int, float64) {
	best := 0
	for c, v := range row {
		if v > row[best] {
			best = c
		}
	}
	return best, row[best]
}

// checkProbs rejects anything but rows of probabilities: logits passed by
// mistake would give confident shares and entropies that look plausible.
func checkProbs(p Vectors) error {
	if err := p.check("probabilities"); err != nil {
		return err
	}
	if p.N() == 0 {
		return fmt.Errorf("quality: probabilities: no samples; want at least one row")
	}
	for i := range p.N() {
		sum := 0.0
		for c, v := range p.row(i) {
			if v < 0 {
				return fmt.Errorf("quality: probabilities: row %d, class %d is %g; want softmax outputs (non-negative rows summing to 1)", i, c, v)
			}
			sum += v
		}
		// float32 softmax outputs sum to 1 within about classes * 6e-8.
		if math.Abs(sum-1) > 1e-3 {
			return fmt.Errorf("quality: probabilities: row %d sums to %g; want softmax outputs (non-negative rows summing to 1)", i, sum)
		}
	}
	return nil
}
