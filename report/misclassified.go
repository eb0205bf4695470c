package report

import (
	"fmt"
	"image"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Digit is an image a model classified wrongly.
type Digit struct {
	Image      *image.Gray
	Index      int // in its data set
	Label      int
	Prediction int
	Confidence float64 // softmax probability of Prediction
}

// Layout of Misclassified, in pixels of the picture: MNIST's 28x28 digits
// drawn four times their size, pixel for pixel, over two lines of text.
const (
	digitPixels   = 112
	cellWidth     = 160
	cellHeight    = 180
	gridColumns   = 12
	maxGridDigits = 240 // 20 rows; a model that misses thousands is shown in part
)

// Misclassified draws digits as a PNG grid, each under its true label, the
// prediction, the confidence and its index, in the order given. A page of
// thousands of mistakes would be unreadable and huge: past maxGridDigits
// the picture shows the first ones and says how many there were.
func Misclassified(digits []Digit, title string) ([]byte, error) {
	for i, d := range digits {
		if d.Image == nil || d.Image.Rect.Empty() {
			return nil, fmt.Errorf("report: misclassified digit %d (index %d) has no image", i, d.Index)
		}
		if r := d.Image.Rect; d.Image.Stride < r.Dx() || len(d.Image.Pix) < (r.Dy()-1)*d.Image.Stride+r.Dx() {
			return nil, fmt.Errorf("report: misclassified digit %d (index %d): %d pixels for a %dx%d image", i, d.Index, len(d.Image.Pix), r.Dx(), r.Dy())
		}
	}
	shown := digits[:min(len(digits), maxGridDigits)]
	cols := min(max(len(shown), 1), gridColumns)
	rows := max((len(shown)+cols-1)/cols, 1)
	const header = 70
	px := func(n int) vg.Length { return vg.Length(n) * vg.Inch / dpi }
	w, h := px(cols*cellWidth+16), px(header+rows*cellHeight+8)

	titleStyle := textStyle(13, color.Black, draw.XLeft)
	keyStyle := textStyle(9, rgb(0x50, 0x50, 0x50), draw.XLeft)
	labelStyle := textStyle(10, color.Black, draw.XCenter)
	smallStyle := textStyle(8, rgb(0x50, 0x50, 0x50), draw.XCenter)

	key := "under each digit: true label → prediction; the prediction's softmax probability; #index in the test set"
	switch {
	case len(digits) == 0:
		key = "none: every image was classified correctly"
	case len(shown) < len(digits):
		key = fmt.Sprintf("the first %d of %d; ", len(shown), len(digits)) + key
	}
	return drawPNG("misclassified digits", w, h, func(c draw.Canvas) {
		top := c.Max.Y
		c.FillText(titleStyle, vg.Point{X: px(8), Y: top - px(34)}, title)
		c.FillText(keyStyle, vg.Point{X: px(8), Y: top - px(60)}, key)
		for i, d := range shown {
			x0 := px(8 + (i%cols)*cellWidth)
			cellTop := top - px(header+(i/cols)*cellHeight)
			img := enlarge(d.Image, digitPixels)
			dw, dh := fit(img.Bounds().Size(), digitPixels)
			left := x0 + px((cellWidth-dw)/2)
			bottom := cellTop - px(8+dh)
			c.DrawImage(vg.Rectangle{Min: vg.Point{X: left, Y: bottom},
				Max: vg.Point{X: left + px(dw), Y: bottom + px(dh)}}, img)
			mid := x0 + px(cellWidth/2)
			c.FillText(labelStyle, vg.Point{X: mid, Y: bottom - px(27)}, fmt.Sprintf("%d → %d", d.Label, d.Prediction))
			c.FillText(smallStyle, vg.Point{X: mid, Y: bottom - px(48)}, fmt.Sprintf("%.1f %%  #%d", 100*d.Confidence, d.Index))
		}
	})
}

func textStyle(size float64, c color.Color, align text.XAlignment) text.Style {
	return text.Style{Color: c, Font: font.From(sans, font.Length(size)), XAlign: align, YAlign: draw.YBottom,
		Handler: plot.DefaultTextHandler}
}

// enlarge scales img up by the largest whole factor that fits side pixels,
// each pixel a square block, so that the drawing does not blur it.
func enlarge(img *image.Gray, side int) *image.Gray {
	b := img.Bounds()
	k := max(side/max(b.Dx(), b.Dy()), 1)
	out := image.NewGray(image.Rect(0, 0, b.Dx()*k, b.Dy()*k))
	for y := 0; y < b.Dy()*k; y++ {
		for x := 0; x < b.Dx()*k; x++ {
			out.Pix[y*out.Stride+x] = img.GrayAt(b.Min.X+x/k, b.Min.Y+y/k).Y
		}
	}
	return out
}

// fit is the size at which an image of size s is drawn in a square of
// side pixels: as it is if it fits, else scaled down to fit.
func fit(s image.Point, side int) (w, h int) {
	if s.X <= side && s.Y <= side {
		return s.X, s.Y
	}
	if s.X >= s.Y {
		return side, max(s.Y*side/s.X, 1)
	}
	return max(s.X*side/s.Y, 1), side
}
