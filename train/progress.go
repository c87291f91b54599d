package train

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progress draws a one-line bar with the rate and the time left.
type progress struct {
	w         io.Writer
	from, to  int
	start     time.Time
	lastDrawn time.Time
	everDrawn bool
}

func newProgress(w io.Writer, from, to int) *progress {
	return &progress{w: w, from: from, to: to, start: time.Now()}
}

func (p *progress) update(st Stats) {
	if p.w == nil || (time.Since(p.lastDrawn) < 200*time.Millisecond && st.Step != p.to) {
		return
	}
	p.lastDrawn, p.everDrawn = time.Now(), true
	done := float64(st.Step-p.from) / float64(max(p.to-p.from, 1))
	elapsed := time.Since(p.start)
	eta := time.Duration(0)
	if done > 0 {
		eta = time.Duration(float64(elapsed) * (1 - done) / done)
	}
	const width = 30
	filled := int(done * width)
	fmt.Fprintf(p.w, "\r%6d/%d [%s%s] %5.1f%% loss %.4f %.1f img/s ETA %s   ",
		st.Step, p.to, strings.Repeat("=", filled), strings.Repeat(" ", width-filled), 100*done,
		st.Loss(), st.ImagesPerS, eta.Round(time.Second))
}

func (p *progress) done() {
	if p.w != nil && p.everDrawn {
		fmt.Fprintln(p.w)
	}
}
