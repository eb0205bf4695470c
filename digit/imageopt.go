package digit

import (
	"fmt"
	"image"
	"os"
)

// Invert says how the polarity of an image, light ink on dark or dark ink
// on light, is decided.
type Invert int

const (
	// InvertAuto decides from the picture: ink held in the alpha channel
	// is light on dark; otherwise the paper is what the border shows (or,
	// under uneven light, what the fitted background is), and the ink is
	// the other way.
	InvertAuto Invert = iota
	// InvertAlways reads every image as dark ink on light paper. A
	// translucent pixel is shown over white, as a viewer shows it.
	InvertAlways
	// InvertNever reads every image as light ink on dark paper, as MNIST
	// is. A translucent pixel is shown over white.
	InvertNever
)

var invertNames = [...]string{InvertAuto: "auto", InvertAlways: "always", InvertNever: "never"}

func (v Invert) String() string {
	if v < 0 || int(v) >= len(invertNames) {
		return fmt.Sprintf("Invert(%d)", int(v))
	}
	return invertNames[v]
}

// ParseInvert reads auto, always or never.
func ParseInvert(s string) (Invert, error) {
	for v, name := range invertNames {
		if s == name {
			return Invert(v), nil
		}
	}
	return InvertAuto, fmt.Errorf("invert %q: want auto, always or never", s)
}

// ImageOptions say how image files are made into the model's input.
type ImageOptions struct {
	Invert Invert
	// Prepared, when set, receives each image file's digit as the model
	// sees it before padding: 28x28 grey, light on dark, as MNIST's are.
	// Read back, such an image gives the same input again. An error it
	// returns is that file's failure.
	Prepared func(path string, digit *image.Gray) error
}

// LoadImageWith is LoadImage with options.
func LoadImageWith(path string, dst []float32, opt ImageOptions) error {
	_, err := LoadImageReport(path, dst, opt)
	return err
}

// LoadImageReport is LoadImageWith that also reports what the preparation
// found, as Prepare does: what infer's Classify flags.
func LoadImageReport(path string, dst []float32, opt ImageOptions) (Report, error) {
	if err := checkDst(dst); err != nil {
		return Report{}, err
	}
	digit, r, err := loadDigit(path, opt.Invert)
	if err != nil {
		return r, err
	}
	if opt.Prepared != nil {
		if err := opt.Prepared(path, digit); err != nil {
			return r, fmt.Errorf("digit: %s: %w", path, err)
		}
	}
	return r, fill(digit.Pix, dst)
}

// LoadDigit reads the image file at path and makes it into a digit as
// MNIST's are, 28x28 grey with light ink on black, as Preprocess does.
// Every error is one line that names the file.
func LoadDigit(path string, inv Invert) (*image.Gray, error) {
	d, _, err := loadDigit(path, inv)
	return d, err
}

func loadDigit(path string, inv Invert) (*image.Gray, Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Report{}, pathError(path, err)
	}
	defer f.Close()
	img, err := Decode(f, 0)
	if err != nil {
		return nil, Report{}, pathError(path, err)
	}
	d, r, err := makeDigit(img, inv)
	if err != nil {
		return nil, r, fmt.Errorf("digit: %s: %w", path, err)
	}
	return d, r, nil
}

// Digit makes an image into a digit as MNIST's are, 28x28 grey with light
// ink on black: the image Preprocess converts into the model's input.
func Digit(img image.Image, inv Invert) (*image.Gray, error) {
	d, _, err := Prepare(img, inv)
	return d, err
}

func makeDigit(img image.Image, inv Invert) (*image.Gray, Report, error) {
	if inv < InvertAuto || inv > InvertNever {
		return nil, Report{}, fmt.Errorf("unknown invert mode %d", int(inv))
	}
	d := image.NewGray(image.Rect(0, 0, Side, Side))
	r, err := prepare(img, inv, (*[Side * Side]byte)(d.Pix))
	if err != nil {
		return nil, r, err
	}
	return d, r, nil
}
