package quality

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestReportJSON(t *testing.T) {
	r := Report{FD: 12.5, FDFloor: 1.25, KID: 0.0125, KIDSE: 0.0004, Confident: 0.931, ClassEntropy: 2.29, Precision: 0.712, Recall: 0.52}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"fd":12.5,"fd_floor":1.25,"kid":0.0125,"kid_se":0.0004,"confident":0.931,"class_entropy":2.29,"precision":0.712,"recall":0.52}`
	if string(b) != want {
		t.Errorf("JSON %s; want %s", b, want)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil || back != r {
		t.Errorf("round trip: %+v, %v; want %+v", back, err, r)
	}
	r.FDFloor = 0
	b, _ = json.Marshal(r)
	if strings.Contains(string(b), "fd_floor") {
		t.Errorf("JSON without a floor: %s; want no fd_floor", b)
	}
}

func TestReportText(t *testing.T) {
	r := Report{FD: 12.345, FDFloor: 1.2, KID: 0.01234, KIDSE: 0.0004, Confident: 0.931, ClassEntropy: 2.2912, Precision: 0.712, Recall: 0.52}
	want := "FD 12.35 (floor 1.2)  KID 0.0123 ± 0.0004  confident 93.1%  class entropy 2.29  precision 0.712  recall 0.520"
	if got := r.String(); got != want {
		t.Errorf("String:\n%s\nwant\n%s", got, want)
	}
}
