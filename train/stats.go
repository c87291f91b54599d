package train

import (
	"encoding/json"
	"maps"
	"slices"
)

// Stats are what one step reports: for each update its loss, gradient
// norm, learning rate and metrics, under their names ("loss", "kl"), or
// prefixed with the update's name ("d.loss", "g.loss") in a family of
// named updates.
type Stats struct {
	Step       int
	Values     map[string]float64
	Images     int     // data images the step read (not in the metrics file)
	ImagesPerS float64 // and per second
}

// Loss is the step's loss: that of its one unnamed update, else the sum of
// the updates' losses.
func (s Stats) Loss() float64 {
	if v, ok := s.Values["loss"]; ok {
		return v
	}
	var sum float64
	for k, v := range s.Values {
		if len(k) > 5 && k[len(k)-5:] == ".loss" {
			sum += v
		}
	}
	return sum
}

// MarshalJSON writes one flat object: step, the values, images_per_s.
func (s Stats) MarshalJSON() ([]byte, error) {
	m := map[string]any{"step": s.Step, "images_per_s": s.ImagesPerS}
	for k, v := range s.Values {
		m[k] = v
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *Stats) UnmarshalJSON(b []byte) error {
	var m map[string]float64
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	s.Step, s.ImagesPerS = int(m["step"]), m["images_per_s"]
	delete(m, "step")
	delete(m, "images_per_s")
	s.Values = m
	return nil
}

// logArgs are the stats as slog's key-value pairs, in name order.
func (s Stats) logArgs() []any {
	args := []any{"step", s.Step}
	for _, k := range slices.Sorted(maps.Keys(s.Values)) {
		args = append(args, k, s.Values[k])
	}
	return append(args, "images_per_s", s.ImagesPerS)
}
