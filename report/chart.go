package report

import (
	"fmt"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// chart is one figure of a page: its series and marks, collected first so
// that the y scale can be chosen from all of them, then drawn by build.
type chart struct {
	file   string // base name of its PNG in charts/
	title  string // the page's alt text
	plot   *plot.Plot
	series []series
	marks  []mark
	legend legend
	// logCandidate asks for a log y axis where the values allow it.
	logCandidate bool
}

type series struct {
	xy     plotter.XYs // finite points only
	style  draw.LineStyle
	glyphs bool // a dot on each point: epochs, not steps
}

func newChart(file, title, x, y string) *chart {
	return &chart{file: file, title: title, plot: newPlot(title, x, y)}
}

// addLine adds the finite points of xy as a line, and reports whether
// there were any.
func (c *chart) addLine(xy plotter.XYs, style draw.LineStyle, glyphs bool) bool {
	pts := finite(xy)
	if len(pts) == 0 {
		return false
	}
	c.series = append(c.series, series{decimate(pts), style, glyphs})
	return true
}

func (c *chart) addMark(m mark) { c.marks = append(c.marks, m) }

func (c *chart) addLegend(name string, thumb plot.Thumbnailer) {
	c.legend = append(c.legend, legendEntry{name, thumb})
}

// build puts the chart's series and marks on its plot, the marks first so
// that the data is drawn over them.
//
// A log y axis is drawn as the log10 of the values on a linear axis,
// labelled with the values: a loss falls from 2.3 to 0.02, and on a
// linear scale its last epochs, the ones compared with the seed, are a
// flat line. gonum/plot's own LogScale would do, but it places a long
// axis label as if the scale were linear, leaving a gap over the plot, and
// it panics on a value of zero.
func (c *chart) build() {
	ymin, ymax := math.Inf(1), math.Inf(-1)
	for _, s := range c.series {
		for _, p := range s.xy {
			ymin, ymax = math.Min(ymin, p.Y), math.Max(ymax, p.Y)
		}
	}
	log := c.logCandidate && ymin > 0 && ymax > 4*ymin && !math.IsInf(ymax, 0)
	ty := func(y float64) float64 { return y }
	if log {
		ty = math.Log10
		for _, m := range c.marks {
			if h, ok := m.(hline); ok && h.y > 0 {
				ymin, ymax = math.Min(ymin, h.y), math.Max(ymax, h.y)
			}
		}
		// Whole ticks at both ends: 0.02 to 5, not 0.0213 to 3.87.
		c.plot.Y.Min, c.plot.Y.Max = math.Log10(round125(ymin, false)), math.Log10(round125(ymax, true))
		c.plot.Y.Tick.Marker = logTicks{}
		c.plot.Y.Label.Text += " (log scale)"
	}
	for _, m := range c.marks {
		if h, ok := m.(hline); ok {
			if log && h.y <= 0 {
				continue
			}
			h.y = ty(h.y)
			m = h
		}
		c.plot.Add(m)
	}
	for _, s := range c.series {
		pts := make(plotter.XYs, 0, len(s.xy))
		for _, p := range s.xy {
			if !log || p.Y > 0 {
				pts = append(pts, plotter.XY{X: p.X, Y: ty(p.Y)})
			}
		}
		if len(pts) == 0 {
			continue
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			continue // only finite points are here; NewLine refuses no others
		}
		l.LineStyle = s.style
		c.plot.Add(l)
		if s.glyphs {
			if sc, err := plotter.NewScatter(pts); err == nil {
				sc.GlyphStyle = draw.GlyphStyle{Color: s.style.Color, Radius: vg.Points(2.2), Shape: draw.CircleGlyph{}}
				c.plot.Add(sc)
			}
		}
	}
}

// round125 rounds a positive v down (or up) to 1, 2 or 5 times a power of
// ten.
func round125(v float64, up bool) float64 {
	e := math.Pow(10, math.Floor(math.Log10(v)))
	steps := []float64{1, 2, 5, 10}
	if up {
		for _, m := range steps {
			if m*e >= v*(1-1e-9) {
				return m * e
			}
		}
	}
	for i := len(steps) - 1; i >= 0; i-- {
		if steps[i]*e <= v*(1+1e-9) {
			return steps[i] * e
		}
	}
	return v
}

// logTicks marks an axis of log10 values (see build) at 1 to 9 times the
// powers of ten, labelling 1, 2 and 5 times: gonum/plot's LogTicks labels
// only the powers, and a loss from 0.02 to 0.3 would show the single label
// 0.1.
type logTicks struct{}

func (logTicks) Ticks(min, max float64) []plot.Tick {
	var ts []plot.Tick
	for e := math.Floor(min); e <= math.Ceil(max); e++ {
		for m := 1; m <= 9; m++ {
			v := float64(m) * math.Pow(10, e)
			lv := math.Log10(v)
			if lv < min-1e-9 || lv > max+1e-9 {
				continue
			}
			t := plot.Tick{Value: lv}
			if m == 1 || m == 2 || m == 5 {
				t.Label = strconv.FormatFloat(v, 'g', 4, 64)
			}
			ts = append(ts, t)
		}
	}
	return ts
}

// integerTicks labels steps and epochs as the whole numbers they are:
// gonum/plot's default ticks would mark epoch 1.5 on a two-epoch run, and
// step 100 as 100.00.
func integerTicks(min, max float64) []plot.Tick {
	var ts []plot.Tick
	for _, t := range (plot.DefaultTicks{}).Ticks(min, max) {
		if t.Value == math.Trunc(t.Value) {
			if t.Label != "" {
				t.Label = strconv.FormatFloat(t.Value, 'f', -1, 64)
			}
			ts = append(ts, t)
		}
	}
	return ts
}

// runCharts are the charts of a page: what the seed's notebook logged to
// Weights & Biases every step and every epoch. runs has at least one run.
func runCharts(runs []*Run, names []string) []*chart {
	charts := []*chart{
		stepChart(runs, names, "train_loss", "Training loss per step", "cross-entropy",
			func(s Step) float64 { return s.TrainLoss }, true),
		stepChart(runs, names, "learning_rate", "Learning rate per step (OneCycleLR)", "learning rate",
			func(s Step) float64 { return s.LearningRate }, false),
		stepChart(runs, names, "beta1", "Adam's β1 per step (OneCycleLR's cycled momentum)", "β1",
			func(s Step) float64 { return s.Beta1 }, false),
		lossChart(runs, names),
		accuracyChart(runs, names),
	}
	for _, c := range charts {
		c.build()
	}
	return charts
}

// stepChart draws one per-step value of every run. A noisy value (the
// loss) is drawn faint, under its running mean. A dashed line marks the
// step where a run switched to eval mode (the recipes of train --recipe).
func stepChart(runs []*Run, names []string, file, title, ylabel string, value func(Step) float64, noisy bool) *chart {
	c := newChart(file, title, "step", ylabel)
	c.plot.X.Tick.Marker = plot.TickerFunc(integerTicks)
	c.logCandidate = noisy
	single := len(runs) == 1
	// One window for all runs, so that overlaid curves are alike.
	window := 1
	for _, r := range runs {
		window = max(window, min(len(r.Steps)/50, 200))
	}
	switched := false
	for i, r := range runs {
		col := colour(i)
		xy := make(plotter.XYs, len(r.Steps))
		for k, s := range r.Steps {
			xy[k] = plotter.XY{X: float64(s.Step), Y: value(s)}
		}
		if noisy && window > 1 {
			c.addLine(xy, lineStyle(faded(col), 0.6, solid), false)
			xy = runningMean(xy, window)
		}
		style := lineStyle(col, 1.4, solid)
		switch ok := c.addLine(xy, style, false); {
		case !ok:
		case !single:
			c.addLegend(names[i], lineThumb(style))
		case noisy && window > 1:
			c.addLegend(fmt.Sprintf("mean of the last %d steps", window), lineThumb(style))
			c.addLegend("each step", lineThumb(lineStyle(faded(col), 2.5, solid))) // thicker, to be seen
		}
		if from := r.evalFrom(); from > 0 {
			vcol := col
			if single {
				vcol = grey
			}
			v := vline{x: float64(from), style: lineStyle(vcol, 1, dashed)}
			c.addMark(v)
			if single {
				c.addLegend(fmt.Sprintf("eval mode from step %d", from), v)
			}
			switched = true
		}
	}
	if switched && !single {
		c.addLegend("eval mode from here", lineThumb(lineStyle(grey, 1, dashed)))
	}
	return c
}

// runningMean is, at each finite point, the mean of the window of finite
// points that ends there.
func runningMean(xy plotter.XYs, window int) plotter.XYs {
	pts := finite(xy)
	out := make(plotter.XYs, len(pts))
	var sum float64
	for i, p := range pts {
		sum += p.Y
		if i >= window {
			sum -= pts[i-window].Y
		}
		out[i] = plotter.XY{X: p.X, Y: sum / float64(min(i+1, window))}
	}
	return out
}

// lossChart draws each epoch's validation loss and mean training loss
// against the seed's test loss.
func lossChart(runs []*Run, names []string) *chart {
	c := newChart("loss", "Loss per epoch", "epoch", "cross-entropy")
	c.plot.X.Tick.Marker = plot.TickerFunc(integerTicks)
	c.logCandidate = true
	ref := hline{y: seedLoss, style: lineStyle(grey, 1.2, dotted)}
	c.addMark(ref)
	single := len(runs) == 1
	for i, r := range runs {
		val, train := make(plotter.XYs, 0, len(r.Epochs)), make(plotter.XYs, len(r.Epochs))
		for k, e := range r.Epochs {
			if r.validated() {
				val = append(val, plotter.XY{X: float64(e.Epoch), Y: e.ValLoss})
			}
			train[k] = plotter.XY{X: float64(e.Epoch), Y: e.TrainLoss}
		}
		if single {
			vs, ts := lineStyle(colour(0), 1.6, solid), lineStyle(colour(1), 1.6, solid)
			if c.addLine(val, vs, true) {
				c.addLegend("validation", lineThumb(vs))
			}
			if c.addLine(train, ts, true) {
				c.addLegend("training (epoch mean)", lineThumb(ts))
			}
			continue
		}
		vok := c.addLine(val, lineStyle(colour(i), 1.6, solid), true)
		tok := c.addLine(train, lineStyle(colour(i), 1.2, dashed), true)
		if vok || tok {
			c.addLegend(names[i], lineThumb(lineStyle(colour(i), 1.6, solid)))
		}
	}
	if !single {
		c.addLegend("validation", lineThumb(lineStyle(grey, 1.6, solid)))
		c.addLegend("training (epoch mean)", lineThumb(lineStyle(grey, 1.2, dashed)))
	}
	c.addLegend(fmt.Sprintf("seed's test loss %.4f", seedLoss), ref)
	return c
}

// accuracyChart draws each epoch's validation accuracy against the seed's
// test accuracy.
func accuracyChart(runs []*Run, names []string) *chart {
	c := newChart("val_acc", "Validation accuracy per epoch", "epoch", "accuracy (%)")
	c.plot.X.Tick.Marker = plot.TickerFunc(integerTicks)
	ref := hline{y: seedAccuracy, style: lineStyle(grey, 1.2, dotted)}
	c.addMark(ref)
	for i, r := range runs {
		if !r.validated() {
			continue
		}
		xy := make(plotter.XYs, len(r.Epochs))
		for k, e := range r.Epochs {
			xy[k] = plotter.XY{X: float64(e.Epoch), Y: e.ValAcc}
		}
		style := lineStyle(colour(i), 1.6, solid)
		if c.addLine(xy, style, true) && len(runs) > 1 {
			c.addLegend(names[i], lineThumb(style))
		}
	}
	c.addLegend(fmt.Sprintf("seed's test accuracy %.2f %%", seedAccuracy), ref)
	return c
}

// lineThumb is a legend entry's line alone.
type lineThumb draw.LineStyle

func (t lineThumb) Thumbnail(c *draw.Canvas) {
	y := c.Center().Y
	c.StrokeLine2(draw.LineStyle(t), c.Min.X, y, c.Max.X, y)
}
