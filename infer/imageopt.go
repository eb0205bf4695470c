package infer

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
	_, err := loadImage(path, dst, opt)
	return err
}

// loadImage is LoadImageWith, with what the preparation found.
func loadImage(path string, dst []float32, opt ImageOptions) (preparation, error) {
	if err := checkDst(dst); err != nil {
		return preparation{}, err
	}
	digit, pr, err := loadDigit(path, opt.Invert)
	if err != nil {
		return pr, err
	}
	if opt.Prepared != nil {
		if err := opt.Prepared(path, digit); err != nil {
			return pr, fmt.Errorf("infer: %s: %w", path, err)
		}
	}
	return pr, fill(digit.Pix, dst)
}

// LoadDigit reads the image file at path and makes it into a digit as
// MNIST's are, 28x28 grey with light ink on black, as Preprocess does.
// Every error is one line that names the file.
func LoadDigit(path string, inv Invert) (*image.Gray, error) {
	d, _, err := loadDigit(path, inv)
	return d, err
}

func loadDigit(path string, inv Invert) (*image.Gray, preparation, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, preparation{}, pathError(path, err)
	}
	defer f.Close()
	img, err := decode(f)
	if err != nil {
		return nil, preparation{}, pathError(path, err)
	}
	d, pr, err := makeDigit(img, inv)
	if err != nil {
		return nil, pr, fmt.Errorf("infer: %s: %w", path, err)
	}
	return d, pr, nil
}

// Digit makes an image into a digit as MNIST's are, 28x28 grey with light
// ink on black: the image Preprocess converts into the model's input.
func Digit(img image.Image, inv Invert) (*image.Gray, error) {
	d, _, err := makeDigit(img, inv)
	if err != nil {
		return nil, fmt.Errorf("infer: %w", err)
	}
	return d, nil
}

func makeDigit(img image.Image, inv Invert) (*image.Gray, preparation, error) {
	if inv < InvertAuto || inv > InvertNever {
		return nil, preparation{}, fmt.Errorf("unknown invert mode %d", int(inv))
	}
	d := image.NewGray(image.Rect(0, 0, digitSide, digitSide))
	pr, err := prepare(img, inv, (*[digitSide * digitSide]byte)(d.Pix))
	if err != nil {
		return nil, pr, err
	}
	return d, pr, nil
}
