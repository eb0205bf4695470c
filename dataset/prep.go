package dataset

import (
	"fmt"
	"image"

	"github.com/lenetkit/lenetkit/digit"
)

// Prep is how an image file of a folder becomes one of a Set's images.
type Prep struct {
	// Resize makes the whole picture grey and resizes it to the Set's
	// size; otherwise the image is prepared as a digit (PrepDigit). It
	// resizes an IDX set's images too, which are otherwise used as they
	// are (see Options.Prep).
	Resize bool
	// Area resizes by area averaging (PIL's box filter) rather than
	// bilinear (PIL's and torchvision's default).
	Area bool
	// Invert is the digit preparation's polarity rule (digit.Invert).
	// Resizing keeps the picture's own polarity, as torchvision does,
	// unless it is digit.InvertAlways: then it makes the negative (dark
	// ink on light paper made light on dark, as MNIST's).
	Invert digit.Invert
}

// The preparations --prep names.
var (
	// PrepDigit prepares an image as lenetkit infer does a digit (see
	// digit.Preprocess): grey, light ink on dark, cropped to the ink,
	// scaled into 20x20 and centred by mass in 28x28, as MNIST's digits
	// were made. A Set larger than 28x28 gets the digit in its middle,
	// the rest 0, as torchvision's Pad.
	PrepDigit = Prep{}
	// PrepResize makes the picture grey (PIL's convert("L")) and resizes
	// it, all of it, to the Set's size, bilinearly: what
	// torchvision's Grayscale() and Resize((H, W)) do.
	PrepResize = Prep{Resize: true}
	// PrepResizeArea is PrepResize averaging over areas.
	PrepResizeArea = Prep{Resize: true, Area: true}
)

// ParsePrep reads --prep's value: digit, resize (resize:bilinear) or
// resize:area.
func ParsePrep(s string) (Prep, error) {
	switch s {
	case "digit":
		return PrepDigit, nil
	case "resize", "resize:bilinear":
		return PrepResize, nil
	case "resize:area":
		return PrepResizeArea, nil
	}
	return Prep{}, newError(ErrOption, "", fmt.Sprintf("preparation %q: want digit, resize (bilinear) or resize:area", s))
}

func (p Prep) String() string {
	switch {
	case p.Resize && p.Area:
		return "resize:area"
	case p.Resize:
		return "resize"
	}
	return "digit"
}

// digitSide is the size of the digit digit.Digit makes.
const digitSide = digit.Side

// prepare makes img into an h x w grey image as p says.
func (p Prep) prepare(img image.Image, h, w int) ([]byte, error) {
	if p.Resize {
		g, err := digit.Grey(img)
		if err != nil {
			return nil, err
		}
		out := resize(g.Pix, g.Rect.Dx(), g.Rect.Dy(), w, h, p.Area)
		if p.Invert == digit.InvertAlways {
			for i, v := range out {
				out[i] = 255 - v
			}
		}
		return out, nil
	}
	d, err := digit.Digit(img, p.Invert)
	if err != nil {
		return nil, err
	}
	if h == digitSide && w == digitSide {
		return d.Pix, nil
	}
	out := make([]byte, h*w)
	top, left := (h-digitSide)/2, (w-digitSide)/2
	for r := range digitSide {
		copy(out[(r+top)*w+left:], d.Pix[r*digitSide:(r+1)*digitSide])
	}
	return out, nil
}
