package sample

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/scoregen/scoregen/grid"
)

// grids paints images [first, end) of a run into PNG grids as they come:
// one grid at path out, or with every > 0 one per `every` images of the
// run, image i in grid i/every, named after out ("grid.png" gives
// grid-00000.png, grid-00001.png, ...). A grid is written when its last
// image arrives; the one being filled is all it holds. A shard's grids
// hold only its images, and a grid that straddles two shards is drawn by
// both, so with shard.N > 1 their names say the shard (grid.shard1of2.png,
// grid-00003.shard1of2.png) and shards in one folder do not overwrite each
// other's.
type grids struct {
	out          string
	every        int
	shard        Shard // zero: the whole run
	first, end   int
	shape        []int // C, H, W
	cur          *grid.Grid
	curLo, curHi int
}

// group is the range of images of the grid holding image i.
func (g *grids) group(i int) (lo, hi int) {
	if g.every == 0 {
		return g.first, g.end
	}
	return max(g.first, i/g.every*g.every), min(g.end, (i/g.every+1)*g.every)
}

// replayFrom is the first image the grids need again when a run resumes
// with images before done complete: the start of the grid being filled.
func (g *grids) replayFrom(done int) int {
	if done >= g.end {
		return g.first // all complete: redraw every grid
	}
	lo, _ := g.group(done)
	return lo
}

// path is the file of the grid starting at image lo.
func (g *grids) path(lo int) string {
	ext := filepath.Ext(g.out)
	name := strings.TrimSuffix(g.out, ext)
	if g.every > 0 {
		name += fmt.Sprintf("-%05d", lo/g.every)
	}
	if g.shard.N > 1 {
		name += fmt.Sprintf(".shard%dof%d", g.shard.K, g.shard.N)
	}
	return name + ext
}

// add draws image i (its values img) and writes its grid if that is now
// complete. Images arrive in order.
func (g *grids) add(i int, img []float32) error {
	if g.cur == nil {
		g.curLo, g.curHi = g.group(i)
		cols := grid.Columns(g.curHi - g.curLo)
		if g.every > 0 {
			cols = grid.Columns(g.every)
		}
		var err error
		if g.cur, err = grid.NewGrid(g.curHi-g.curLo, g.shape[0], g.shape[1], g.shape[2], cols); err != nil {
			return fmt.Errorf("grid %s: %w", g.path(g.curLo), err)
		}
	}
	g.cur.Set(i-g.curLo, img)
	if i+1 < g.curHi {
		return nil
	}
	err := g.cur.WritePNG(g.path(g.curLo))
	g.cur = nil
	return err
}

// progress reports images done: on a terminal (w not nil) a bar with the
// rate and the time left, redrawn at most 5 times a second; otherwise a log
// line at most every 10 seconds and at the end.
type progress struct {
	w           io.Writer
	log         *slog.Logger
	from, total int // images done at the start, and in all
	start, last time.Time
}

func newProgress(w io.Writer, log *slog.Logger, from, total int) *progress {
	now := time.Now()
	return &progress{w: w, log: log, from: from, total: total, start: now}
}

func (p *progress) update(done int) {
	now := time.Now()
	end := done == p.total
	gap := 10 * time.Second
	if p.w != nil {
		gap = 200 * time.Millisecond
	}
	if now.Sub(p.last) < gap && !end {
		return
	}
	p.last = now
	elapsed := now.Sub(p.start).Seconds()
	rate := float64(done-p.from) / max(elapsed, 1e-9)
	eta := time.Duration(float64(p.total-done) / max(rate, 1e-9) * float64(time.Second)).Round(time.Second)
	frac := float64(done) / float64(max(p.total, 1))
	if p.w == nil {
		p.log.Info("sampling", "done", done, "of", p.total, "images_per_s", fmt.Sprintf("%.1f", rate), "eta", eta)
		return
	}
	const width = 30
	filled := int(frac * width)
	fmt.Fprintf(p.w, "\r%7d/%d [%s%s] %5.1f%% %.1f img/s ETA %s   ", done, p.total,
		strings.Repeat("=", filled), strings.Repeat(" ", width-filled), 100*frac, rate, eta)
	if end {
		fmt.Fprintln(p.w)
	}
}
