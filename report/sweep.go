package report

import (
	"fmt"
	"image/color"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// A SweepPoint is one configuration of a dropout x weight decay study: its
// test figures' mean and standard deviation over the seeds.
type SweepPoint struct {
	Dropout, WeightDecay     float64
	AccuracyMean, AccuracySD float64 // percent
	LossMean, LossSD         float64
}

// SweepChart draws a study as two panels, test accuracy and test loss
// against weight decay, a line per dropout with the seeds' sd as error
// bars, and the seed's reported figures as a reference line. Weight decays
// are evenly spaced categories: the grid's usually include 0, which a log
// axis cannot show.
func SweepChart(points []SweepPoint, title string) ([]byte, error) {
	if len(points) == 0 {
		return nil, fmt.Errorf("report: no sweep results to draw")
	}
	var dropouts, decays []float64
	at := make(map[[2]float64]SweepPoint, len(points))
	for _, p := range points {
		at[[2]float64{p.Dropout, p.WeightDecay}] = p
		if !slices.Contains(dropouts, p.Dropout) {
			dropouts = append(dropouts, p.Dropout)
		}
		if !slices.Contains(decays, p.WeightDecay) {
			decays = append(decays, p.WeightDecay)
		}
	}
	slices.Sort(dropouts)
	slices.Sort(decays)
	ticks := make([]plot.Tick, len(decays))
	for i, w := range decays {
		ticks[i] = plot.Tick{Value: float64(i), Label: strconv.FormatFloat(w, 'g', -1, 64)}
	}
	panel := func(name string, seedValue float64, value func(SweepPoint) (mean, sd float64)) (*plot.Plot, error) {
		p := newPlot(name, "weight decay", name)
		p.X.Tick.Marker = plot.ConstantTicks(ticks)
		p.X.Min, p.X.Max = -0.3, float64(len(decays)-1)+0.3
		// Bottom left for accuracy, top left for loss: where the grid's figures
		// (best at no weight decay) leave room.
		p.Legend.Top, p.Legend.Left = name == "test loss", true
		p.Legend.TextStyle.Font = font.From(sans, 10)
		for k, d := range dropouts {
			var xy plotter.XYs
			var errs plotter.YErrors
			for i, w := range decays {
				pt, ok := at[[2]float64{d, w}]
				if !ok {
					continue
				}
				m, sd := value(pt)
				// Lines for dropouts side by side, not on top of each other.
				xy = append(xy, plotter.XY{X: float64(i) + 0.06*(float64(k)-float64(len(dropouts)-1)/2), Y: m})
				errs = append(errs, struct{ Low, High float64 }{sd, sd})
			}
			line, dots, err := plotter.NewLinePoints(xy)
			if err != nil {
				return nil, err
			}
			col := colour(k)
			line.Color, dots.Color = col, col
			line.Width, dots.Radius = vg.Points(1.5), vg.Points(3)
			bars, err := plotter.NewYErrorBars(struct {
				plotter.XYs
				plotter.YErrors
			}{xy, errs})
			if err != nil {
				return nil, err
			}
			bars.Color = col
			p.Add(line, dots, bars)
			p.Legend.Add("dropout "+strconv.FormatFloat(d, 'g', -1, 64), line, dots)
		}
		// hline widens the range to the seed's figure, however far the
		// study's lie from it; the bars' range is their DataRange's.
		seed := hline{y: seedValue, style: lineStyle(grey, 1, dashed)}
		p.Add(seed)
		pad := 0.08 * (p.Y.Max - p.Y.Min)
		p.Y.Min, p.Y.Max = p.Y.Min-pad, p.Y.Max+pad
		p.Legend.Add(fmt.Sprintf("seed's notebook %g", seedValue), seed)
		return p, nil
	}
	acc, err := panel("test accuracy %", 99.16, func(p SweepPoint) (float64, float64) { return p.AccuracyMean, p.AccuracySD })
	if err != nil {
		return nil, fmt.Errorf("report: sweep chart: %w", err)
	}
	loss, err := panel("test loss", 0.0253, func(p SweepPoint) (float64, float64) { return p.LossMean, p.LossSD })
	if err != nil {
		return nil, fmt.Errorf("report: sweep chart: %w", err)
	}
	const w, h = 10 * vg.Inch, 4 * vg.Inch
	return drawPNG("sweep.png", w, h, func(dc draw.Canvas) {
		head := vg.Points(24)
		dc.FillText(textStyle(13, color.Black, draw.XCenter), vg.Point{X: (dc.Min.X + dc.Max.X) / 2, Y: dc.Max.Y - head + vg.Points(6)}, title)
		tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Inch / 3, PadTop: head, PadRight: vg.Inch / 6, PadLeft: vg.Inch / 12, PadBottom: vg.Inch / 12}
		plots := [][]*plot.Plot{{acc, loss}}
		canvases := plot.Align(plots, tiles, dc)
		acc.Draw(canvases[0][0])
		loss.Draw(canvases[0][1])
	})
}
