// Command plot draws a run's curves from its metrics.jsonl: each loss
// against steps and, where the judge scored samples during training
// (train.eval_every), the Fréchet distance against steps with its floor
// (the test set against the training set) as a horizontal line, to tell
// at a glance whether a run still improves.
//
//	go run ./cmd/plot --run runs/mnist_vae
//	go run ./cmd/plot --run runs/mnist_dcgan --out dcgan.png --width 1200 --height 900
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/scoregen/scoregen/internal/atomicfile"
)

// options are the command's flags.
type options struct {
	run, out      string
	width, height int
}

func main() {
	var o options
	cmd := &cobra.Command{
		Use:   "plot",
		Short: "Draw a run's losses and Fréchet distance against steps from its metrics.jsonl, as a PNG",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SilenceUsage = true
			return run(o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.run, "run", "", "the run folder (train.out_dir) whose metrics.jsonl to draw")
	f.StringVar(&o.out, "out", "", "the PNG to write (default RUN/curves.png)")
	f.IntVar(&o.width, "width", 1000, "the PNG's width in pixels")
	f.IntVar(&o.height, "height", 700, "the PNG's height in pixels")
	if err := cmd.Execute(); err != nil {
		os.Exit(1)
	}
}

// minSide and maxSide bound the PNG's sides: smaller leaves no room for
// the axes' labels, larger is a mistake more likely than a wish.
const minSide, maxSide = 200, 10000

func run(o options) error {
	if o.run == "" {
		return errors.New("give --run DIR, a run folder with a metrics.jsonl")
	}
	for _, s := range []struct {
		name string
		v    int
	}{{"--width", o.width}, {"--height", o.height}} {
		if s.v < minSide || s.v > maxSide {
			return fmt.Errorf("%s %d: want %d to %d pixels", s.name, s.v, minSide, maxSide)
		}
	}
	if o.out == "" {
		o.out = filepath.Join(o.run, "curves.png")
	}
	lines, err := readMetrics(filepath.Join(o.run, "metrics.jsonl"))
	if err != nil {
		return err
	}
	img, err := drawCurves(lines, o.width, o.height)
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(o.run, "metrics.jsonl"), err)
	}
	if err := atomicfile.Write(o.out, func(w io.Writer) error { return png.Encode(w, img) }); err != nil {
		return err
	}
	fmt.Println(o.out)
	return nil
}

// readMetrics reads the lines of a metrics.jsonl: each a JSON object of
// numbers with a "step". A line that is not is an error naming the file
// and its number.
func readMetrics(path string) ([]map[string]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []map[string]float64
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		var m map[string]float64
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return nil, fmt.Errorf("%s line %d: want a JSON object of numbers: %v", path, n, err)
		}
		if _, ok := m["step"]; !ok {
			return nil, fmt.Errorf("%s line %d: no \"step\"", path, n)
		}
		lines = append(lines, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s line %d: %w", path, len(lines)+1, err)
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("%s: no lines", path)
	}
	return lines, nil
}

// isLoss reports whether a metrics key is a loss: "loss" of a family of
// one update, "d.loss" and "g.loss" of a GAN's.
func isLoss(key string) bool { return key == "loss" || strings.HasSuffix(key, ".loss") }

// series is the (step, value) points of key, in the lines' order.
func series(lines []map[string]float64, key string) plotter.XYs {
	var xy plotter.XYs
	for _, l := range lines {
		if v, ok := l[key]; ok {
			xy = append(xy, plotter.XY{X: l["step"], Y: v})
		}
	}
	return xy
}

// drawCurves draws the losses, and below them the Fréchet distance where the
// lines have one, on a width x height image.
func drawCurves(lines []map[string]float64, width, height int) (image.Image, error) {
	keys := map[string]bool{}
	for _, l := range lines {
		for k := range l {
			keys[k] = true
		}
	}
	var losses []string
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if isLoss(k) {
			losses = append(losses, k)
		}
	}
	if len(losses) == 0 {
		return nil, errors.New("no loss to draw (no key \"loss\" or \"NAME.loss\")")
	}
	lossPlot := plot.New()
	lossPlot.Title.Text = "training loss"
	lossPlot.X.Label.Text, lossPlot.Y.Label.Text = "step", "loss"
	for i, k := range losses {
		if err := addLine(lossPlot, series(lines, k), k, i, false); err != nil {
			return nil, err
		}
	}
	plots := [][]*plot.Plot{{lossPlot}}
	if fd := series(lines, "fd"); len(fd) > 0 {
		fdPlot := plot.New()
		fdPlot.Title.Text = "Fréchet distance of samples (the judge's features)"
		fdPlot.X.Label.Text, fdPlot.Y.Label.Text = "step", "FD"
		if err := addLine(fdPlot, fd, "fd", 0, true); err != nil {
			return nil, err
		}
		// The floor compares the same test and training images at every
		// evaluation, so it is one number: the last one drawn across.
		if floor := series(lines, "fd_floor"); len(floor) > 0 {
			y := floor[len(floor)-1].Y
			at := plotter.XYs{{X: fd[0].X, Y: y}, {X: fd[len(fd)-1].X, Y: y}}
			if err := addLine(fdPlot, at, "floor (test vs training images)", 1, false); err != nil {
				return nil, err
			}
		}
		plots = append(plots, []*plot.Plot{fdPlot})
	}
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	c := vgimg.NewWith(vgimg.UseImage(img))
	tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align(plots, tiles, draw.New(c))
	for i, row := range plots {
		row[0].Draw(canvases[i][0])
	}
	return c.Image(), nil
}

// addLine adds xy to p as a line named name in the i-th colour and dash
// of plotutil's, with a dot at each point when points.
func addLine(p *plot.Plot, xy plotter.XYs, name string, i int, points bool) error {
	l, err := plotter.NewLine(xy)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	l.Color, l.Dashes = plotutil.Color(i), plotutil.Dashes(i)
	p.Add(l)
	p.Legend.Add(name, l)
	if points {
		s, err := plotter.NewScatter(xy)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		s.Color, s.Shape = color.Black, draw.CircleGlyph{}
		p.Add(s)
	}
	p.Legend.Top = true
	return nil
}
