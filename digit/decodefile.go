package digit

import (
	"errors"
	"image"
	"os"
)

// ErrNotImage marks the errors of Decode and DecodeFile for data that is
// not a PNG, JPEG, GIF or BMP image they can decode (another format, a
// truncated or damaged file, one too large): the file is at fault, not the
// system.
var ErrNotImage = errors.New("not a decodable image")

// notImage keeps a decoding error's message and makes errors.Is match it
// to ErrNotImage.
type notImage struct{ err error }

func (e notImage) Error() string   { return e.err.Error() }
func (e notImage) Unwrap() []error { return []error{ErrNotImage, e.err} }

// DecodeFile reads the image in the file at path, by its content whatever
// its name, within the bounds on size that Decode keeps when given none, so
// that a small file claiming a huge image cannot take the machine's memory.
// It is the decoding LoadImage does, for callers that prepare images their
// own way (package dataset resizes them). Every error is one line that
// names the file.
func DecodeFile(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, pathError(path, err)
	}
	defer f.Close()
	img, err := Decode(f, 0)
	if err != nil {
		return nil, pathError(path, err)
	}
	return img, nil
}

// Grey returns img as 8-bit grey levels, as PIL's convert("L") makes them
// (the ITU-R 601-2 luma), translucent pixels shown over white: the grey
// that Preprocess starts from.
func Grey(img image.Image) (*image.Gray, error) {
	if img == nil {
		return nil, errors.New("digit: nil image")
	}
	b := img.Bounds()
	if b.Empty() {
		return nil, errors.New("digit: image has no pixels")
	}
	return &image.Gray{Pix: toGrey(img), Stride: b.Dx(), Rect: image.Rect(0, 0, b.Dx(), b.Dy())}, nil
}

// ErrBlank is the error, wrapped, of an image in which Prepare, Preprocess,
// Digit and LoadImage find no digit: paper alone, or ink too faint to tell.
var ErrBlank = errBlank
