package digit

import (
	"fmt"
	"image"

	"github.com/lenetkit/lenetkit/mnist"
)

// Sizes of a digit and of the model's input made of it, as MNIST's and the
// seed LeNet's are.
const (
	// Side is the width and height of a digit as Prepare makes it.
	Side = mnist.Side - 2*mnist.Pad // 28
	// Pad is the zero pixels Fill puts on every side of a digit, as the
	// seed's Pad(2) does.
	Pad = mnist.Pad
	// InputLen is the floats of the model's input that Fill and
	// Preprocess write, 1x32x32.
	InputLen = mnist.PixelCount
)

// Report is what making a picture into a digit found that bears on how far
// a classifier's answer about it can be trusted: signs that the picture is
// not one digit as MNIST's are, or that its paper was taken for ink.
type Report struct {
	// Marks is how many separate marks of comparable ink the digit is
	// made of: 1 for a digit, 2 for "42" or a word. It is 0 when they
	// were not counted (ink broken into far more pieces than a digit's,
	// as noise is).
	Marks int
	// SeveralMarks says Marks is 2 or more: the picture holds several
	// digits or letters side by side, not one digit. Of MNIST's 10,000
	// test digits, 8 fives whose top bar stands apart have it.
	SeveralMarks bool
	// Guessed says the polarity, and with it which grey is paper, was
	// decided with little to go on (the border is not mostly one grey;
	// under uneven light, ink strays from the paper both ways): the digit
	// may be the paper. Telling Prepare the polarity, other than
	// InvertAuto, decides it.
	Guessed bool
}

// Prepare makes img into a digit as MNIST's are, 28x28 grey with light ink
// on black (see Preprocess), and reports what it found. inv says how the
// polarity is decided. It is Digit for callers that show a caller or a
// person what the preparation found, as infer's Classify flags it.
func Prepare(img image.Image, inv Invert) (*image.Gray, Report, error) {
	d, r, err := makeDigit(img, inv)
	if err != nil {
		return nil, r, fmt.Errorf("digit: %w", err)
	}
	return d, r, nil
}

// Fill writes a digit, 28x28 grey with light ink on black as Prepare makes
// it, into dst as the model's input: 1x32x32 float32 values in [0, 1],
// row-major, the digit padded by 2 zeros on every side. dst must hold
// InputLen values. The conversion is package mnist's, so that a digit read
// from a picture and the same digit read from MNIST's IDX files become the
// same floats; Preprocess is Prepare, then Fill.
func Fill(d *image.Gray, dst []float32) error {
	if err := checkDst(dst); err != nil {
		return err
	}
	if d == nil {
		return fmt.Errorf("digit: nil digit")
	}
	b := d.Bounds()
	if b.Dx() != Side || b.Dy() != Side {
		return fmt.Errorf("digit: a digit is %dx%d pixels, got %dx%d", Side, Side, b.Dx(), b.Dy())
	}
	pix := d.Pix
	if d.Stride != Side || len(pix) != Side*Side {
		// A sub-image, or one of another layout: gather its rows.
		pix = make([]byte, Side*Side)
		for y := range Side {
			off := d.PixOffset(b.Min.X, b.Min.Y+y)
			if off < 0 || off+Side > len(d.Pix) {
				return fmt.Errorf("digit: a digit whose pixels do not cover its %v bounds", b)
			}
			copy(pix[y*Side:], d.Pix[off:off+Side])
		}
	}
	return fill(pix, dst)
}
