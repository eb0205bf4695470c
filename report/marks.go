package report

import (
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg/draw"
)

// mark is a reference line that spans the whole chart whatever its data:
// gonum/plot's lines would stretch an axis to their ends instead.
type mark interface {
	plot.Plotter
	plot.Thumbnailer
}

// hline marks a value across the chart, such as the seed's test accuracy.
// It widens the y range to include the value, so the mark stays visible
// when a run never comes near it.
type hline struct {
	y     float64
	style draw.LineStyle
}

func (h hline) Plot(c draw.Canvas, p *plot.Plot) {
	_, trY := p.Transforms(&c)
	y := trY(h.y)
	if c.ContainsY(y) {
		c.StrokeLine2(h.style, c.Min.X, y, c.Max.X, y)
	}
}

// DataRange leaves the x range to the data: ±Inf are neutral to the
// min/max that plot.Add takes.
func (h hline) DataRange() (xmin, xmax, ymin, ymax float64) {
	return math.Inf(1), math.Inf(-1), h.y, h.y
}

func (h hline) Thumbnail(c *draw.Canvas) {
	y := c.Center().Y
	c.StrokeLine2(h.style, c.Min.X, y, c.Max.X, y)
}

// vline marks a step, such as the one where training left train mode.
type vline struct {
	x     float64
	style draw.LineStyle
}

func (v vline) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	x := trX(v.x)
	if c.ContainsX(x) {
		c.StrokeLine2(v.style, x, c.Min.Y, x, c.Max.Y)
	}
}

func (v vline) Thumbnail(c *draw.Canvas) {
	y := c.Center().Y
	c.StrokeLine2(v.style, c.Min.X, y, c.Max.X, y)
}

// finite is a copy of the points of xy with finite coordinates.
func finite(xy plotter.XYs) plotter.XYs {
	pts := make(plotter.XYs, 0, len(xy))
	for _, p := range xy {
		if !math.IsNaN(p.X) && !math.IsInf(p.X, 0) && !math.IsNaN(p.Y) && !math.IsInf(p.Y, 0) {
			pts = append(pts, p)
		}
	}
	return pts
}
