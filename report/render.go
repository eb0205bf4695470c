package report

import (
	"bytes"
	"fmt"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Charts are drawn at 150 dpi and shown at about half their pixel width,
// so they stay sharp on high-density screens.
const (
	chartWidth   = 6.4 * vg.Inch
	chartHeight  = 3.2 * vg.Inch
	legendMargin = 0.2 * vg.Inch
	dpi          = 150
)

// png draws the chart into a PNG, its legend between title and plot.
func (c *chart) png() ([]byte, error) {
	lh := c.legend.height(chartWidth - 2*legendMargin)
	c.plot.Title.Padding = titlePadding + lh
	return drawPNG(c.file, chartWidth, chartHeight+lh, func(dc draw.Canvas) {
		c.plot.Draw(dc)
		if len(c.legend) > 0 {
			top := dc.Max.Y - c.plot.Title.TextStyle.Rectangle(c.plot.Title.Text).Size().Y
			c.legend.draw(draw.Crop(dc, legendMargin, -legendMargin, 0, 0), top)
		}
	})
}

// drawPNG runs paint on a white canvas of w x h and encodes it. gonum/plot
// panics on some data it cannot draw (a log axis over a zero, say); the
// callers avoid those cases, and a panic left over becomes an error, as
// drawing a picture must not end the program that trained the model.
func drawPNG(name string, w, h vg.Length, paint func(draw.Canvas)) (b []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("report: drawing %s: %v", name, r)
		}
	}()
	cv := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(dpi))
	paint(draw.New(cv))
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: cv}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("report: encoding %s: %w", name, err)
	}
	return buf.Bytes(), nil
}
