package report

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Confusion draws a confusion matrix, counts[true label][prediction], as
// a PNG heat map with every count written in its cell. The colour follows
// the logarithm of the count: the diagonal holds about a thousand images
// a digit and the mistakes a handful, which a linear scale would leave all
// white.
func Confusion(counts [][]int, title string) ([]byte, error) {
	n := len(counts)
	if n == 0 {
		return nil, errors.New("report: empty confusion matrix")
	}
	top := 0
	for i, row := range counts {
		if len(row) != n {
			return nil, fmt.Errorf("report: confusion matrix row %d has %d counts, want %d", i, len(row), n)
		}
		for _, v := range row {
			if v < 0 {
				return nil, fmt.Errorf("report: confusion matrix row %d has a negative count %d", i, v)
			}
			top = max(top, v)
		}
	}
	g := countGrid(counts)
	p := newPlot(title, "predicted digit", "true digit")
	hm := plotter.NewHeatMap(g, blues(64))
	hm.Min, hm.Max = 0, math.Max(g.Max(), 1)
	p.Add(hm)

	var xys plotter.XYs
	var labels []string
	var styles []text.Style
	for r, row := range counts {
		for c, v := range row {
			xys = append(xys, plotter.XY{X: float64(c), Y: float64(r)})
			labels = append(labels, strconv.Itoa(v))
			ink := color.Color(color.Black)
			switch {
			case v == 0:
				ink = rgb(0xb0, 0xb0, 0xb0)
			case g.Z(c, r)/hm.Max > 0.6:
				ink = color.White
			}
			styles = append(styles, text.Style{Color: ink, Font: font.From(sans, 9),
				XAlign: draw.XCenter, YAlign: draw.YCenter, Handler: p.TextHandler})
		}
	}
	l, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
	if err != nil {
		return nil, fmt.Errorf("report: confusion labels: %w", err)
	}
	l.TextStyle = styles
	p.Add(l)

	ticks := make(plot.ConstantTicks, n)
	for i := range ticks {
		ticks[i] = plot.Tick{Value: float64(i), Label: strconv.Itoa(i)}
	}
	p.X.Tick.Marker, p.Y.Tick.Marker = ticks, ticks
	// Row 0 at the top, as the matrix is printed.
	p.Y.Scale = plot.InvertedScale{Normalizer: plot.LinearScale{}}
	p.X.Padding, p.Y.Padding = 0, 0
	side := 5.6 * vg.Inch
	return drawPNG("confusion matrix", side, side, func(c draw.Canvas) {
		p.Draw(draw.Crop(c, 0, -vg.Points(10), vg.Points(4), 0))
	})
}

// countGrid is a confusion matrix as gonum/plot's grid: column c, row r is
// counts[r][c], its colour value log10(1+count).
type countGrid [][]int

func (g countGrid) Dims() (c, r int)   { return len(g), len(g) }
func (g countGrid) Z(c, r int) float64 { return math.Log10(1 + float64(g[r][c])) }
func (g countGrid) X(c int) float64    { return float64(c) }
func (g countGrid) Y(r int) float64    { return float64(r) }

func (g countGrid) Max() float64 {
	m := 0.0
	for r := range g {
		for c := range g[r] {
			m = math.Max(m, g.Z(c, r))
		}
	}
	return m
}

// blues is a sequential palette of n colours from white to dark blue
// (ColorBrewer's Blues, end points and middle).
type blues int

func (n blues) Colors() []color.Color {
	stops := []color.RGBA{rgb(0xf7, 0xfb, 0xff), rgb(0x6b, 0xae, 0xd6), rgb(0x08, 0x30, 0x6b)}
	cs := make([]color.Color, n)
	for i := range cs {
		t := float64(i) / float64(max(int(n)-1, 1)) * float64(len(stops)-1)
		k := min(int(t), len(stops)-2)
		f := t - float64(k)
		a, b := stops[k], stops[k+1]
		mix := func(x, y uint8) uint8 { return uint8(float64(x) + f*(float64(y)-float64(x)) + 0.5) }
		cs[i] = rgb(mix(a.R, b.R), mix(a.G, b.G), mix(a.B, b.B))
	}
	return cs
}
