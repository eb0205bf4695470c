package report

import (
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// The look shared by every chart: a sans-serif face (gonum/plot's default
// is a serif), light grid lines, and a categorical palette whose colours
// stay apart for the few runs a page overlays.
var (
	sans = font.Font{Typeface: "Liberation", Variant: "Sans"}

	palette = []color.Color{
		rgb(0x1f, 0x77, 0xb4), // blue
		rgb(0xff, 0x7f, 0x0e), // orange
		rgb(0x2c, 0xa0, 0x2c), // green
		rgb(0xd6, 0x27, 0x28), // red
		rgb(0x94, 0x67, 0xbd), // purple
		rgb(0x8c, 0x56, 0x4b), // brown
		rgb(0xe3, 0x77, 0xc2), // pink
		rgb(0xbc, 0xbd, 0x22), // olive
		rgb(0x17, 0xbe, 0xcf), // cyan
	}
	grey      = rgb(0x70, 0x70, 0x70)
	gridColor = rgb(0xe4, 0xe4, 0xe4)

	titlePadding = vg.Points(6)

	solid  []vg.Length
	dashed = []vg.Length{vg.Points(5), vg.Points(3)}
	dotted = []vg.Length{vg.Points(1.5), vg.Points(2.5)}
)

func rgb(r, g, b uint8) color.RGBA { return color.RGBA{r, g, b, 0xff} }

// colour is the colour of the i-th series or run; past the palette they
// repeat, which a page of ten overlaid runs has to accept.
func colour(i int) color.Color { return palette[i%len(palette)] }

// faded is c at a quarter of its opacity: the raw per-step losses behind
// their running mean.
func faded(c color.Color) color.Color {
	r, g, b, _ := c.RGBA()
	const a = 0x40
	return color.NRGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), a}
}

func lineStyle(c color.Color, width float64, dashes []vg.Length) draw.LineStyle {
	return draw.LineStyle{Color: c, Width: vg.Points(width), Dashes: dashes}
}

// newPlot is an empty chart with its titles in the shared look.
func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = font.From(sans, 14)
	p.Title.Padding = titlePadding
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(sans, 12)
		a.Tick.Label.Font = font.From(sans, 10)
	}
	p.X.Label.Text, p.Y.Label.Text = x, y
	g := plotter.NewGrid()
	g.Vertical.Color, g.Horizontal.Color = gridColor, gridColor
	p.Add(g)
	return p
}
