package quality

import (
	"fmt"
)

// Report is one model's scores against one real feature set.
type Report struct {
	// FD is the Fréchet distance between generated and real features.
	FD float64 `json:"fd"`
	// FDFloor is the Fréchet distance between two real sets (the test set's
	// features against the training set's, by FrechetDistance): what a
	// model that reproduced the data would score at these sample sizes, so
	// that FD is read against it rather than against 0. Zero when not
	// computed (a floor is never exactly 0); then it is left out of the
	// JSON and the table.
	FDFloor float64 `json:"fd_floor,omitempty"`
	// KID and KIDSE are KID's estimate and standard error.
	KID   float64 `json:"kid"`
	KIDSE float64 `json:"kid_se"`
	// Confident is ConfidentShare of the generated samples.
	Confident float64 `json:"confident"`
	// ClassEntropy is ClassEntropy of the generated samples, in nats.
	ClassEntropy float64 `json:"class_entropy"`
	// Precision and Recall are PrecisionRecall's.
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
}

func (r Report) fdText() string {
	if r.FDFloor == 0 {
		return fmt.Sprintf("%.4g", r.FD)
	}
	return fmt.Sprintf("%.4g (floor %.3g)", r.FD, r.FDFloor)
}

func (r Report) kidText() string { return fmt.Sprintf("%.3g ± %.2g", r.KID, r.KIDSE) }

// String is the report on one line, e.g.
// "FD 12.3 (floor 1.2)  KID 0.0123 ± 0.0004  confident 93.1%  class entropy 2.29  precision 0.712  recall 0.520".
func (r Report) String() string {
	return fmt.Sprintf("FD %s  KID %s  confident %.1f%%  class entropy %.3g  precision %.3f  recall %.3f",
		r.fdText(), r.kidText(), 100*r.Confident, r.ClassEntropy, r.Precision, r.Recall)
}
