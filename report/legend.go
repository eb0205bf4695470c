package report

import (
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// legend is a chart's key, laid out in centred rows between the title and
// the plot: gonum/plot's own legend is a column drawn over the data, where
// it hides the curves it names.
type legend []legendEntry

type legendEntry struct {
	name  string
	thumb plot.Thumbnailer
}

var (
	legendText  = text.Style{Font: font.From(sans, 10.5), XAlign: draw.XLeft, YAlign: draw.YBottom, Handler: plot.DefaultTextHandler}
	thumbWidth  = vg.Points(22)
	thumbGap    = vg.Points(4)  // between a thumbnail and its name
	entryGap    = vg.Points(16) // between entries
	legendSpace = vg.Points(5)  // above and below the rows
)

// rows splits the legend into rows no wider than width.
func (l legend) rows(width vg.Length) [][]legendEntry {
	var rows [][]legendEntry
	var used vg.Length
	for _, e := range l {
		w := l.entryWidth(e)
		if len(rows) == 0 || used+entryGap+w > width {
			rows = append(rows, nil)
			used = -entryGap
		}
		rows[len(rows)-1] = append(rows[len(rows)-1], e)
		used += entryGap + w
	}
	return rows
}

func (legend) entryWidth(e legendEntry) vg.Length {
	return thumbWidth + thumbGap + legendText.Width(e.name)
}

func rowHeight() vg.Length { return legendText.Height("Xg") + vg.Points(3) }

// height is the room the legend takes in a chart of the given width.
func (l legend) height(width vg.Length) vg.Length {
	if len(l) == 0 {
		return 0
	}
	return vg.Length(len(l.rows(width)))*rowHeight() + 2*legendSpace
}

// draw draws the legend's rows centred in c from top down.
func (l legend) draw(c draw.Canvas, top vg.Length) {
	y := top - legendSpace
	for _, row := range l.rows(c.Max.X - c.Min.X) {
		y -= rowHeight()
		var w vg.Length = -entryGap
		for _, e := range row {
			w += entryGap + l.entryWidth(e)
		}
		x := c.Min.X + (c.Max.X-c.Min.X-w)/2
		for _, e := range row {
			th := legendText.Height(e.name)
			e.thumb.Thumbnail(&draw.Canvas{Canvas: c.Canvas, Rectangle: vg.Rectangle{
				Min: vg.Point{X: x, Y: y}, Max: vg.Point{X: x + thumbWidth, Y: y + th}}})
			c.FillText(legendText, vg.Point{X: x + thumbWidth + thumbGap, Y: y}, e.name)
			x += l.entryWidth(e) + entryGap
		}
	}
}
