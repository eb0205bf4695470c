package mnist

import "fmt"

// toUnit maps a pixel to ToTensor's float: torch computes img.float().div(255)
// in float32, and float32(v)/255 is that same correctly rounded quotient.
var toUnit = func() (t [256]float32) {
	for v := range t {
		t[v] = float32(v) / 255
	}
	return t
}()

// Fill writes images idx of s into x as the model's input, ToTensor() then
// Pad(2): for each image, 1x32x32 float32 values in [0, 1], row-major, with a
// border of 2 zeros. x must hold len(idx)*PixelCount values; every one of
// them is written, so x may be reused from batch to batch. Unless y is nil,
// it must hold len(idx) values and receives the labels. Fill does not
// allocate, and on error it writes nothing.
func (s *Set) Fill(idx []int, x []float32, y []int64) error {
	if s.Rows != Side-2*Pad || s.Cols != Side-2*Pad {
		return fmt.Errorf("mnist: Fill needs %dx%d images, set has %dx%d", Side-2*Pad, Side-2*Pad, s.Rows, s.Cols)
	}
	if len(x) != len(idx)*PixelCount {
		return fmt.Errorf("mnist: Fill of %d images needs %d floats, got %d", len(idx), len(idx)*PixelCount, len(x))
	}
	if y != nil && len(y) != len(idx) {
		return fmt.Errorf("mnist: Fill of %d images needs %d labels, got %d", len(idx), len(idx), len(y))
	}
	for _, i := range idx {
		if i < 0 || i >= s.N {
			return fmt.Errorf("mnist: Fill: image index %d out of range [0, %d)", i, s.N)
		}
	}
	const w = Side - 2*Pad
	for k, i := range idx {
		src := s.Images[i*w*w : (i+1)*w*w]
		dst := x[k*PixelCount : (k+1)*PixelCount]
		clear(dst[:Pad*Side+Pad])
		for r := range w {
			row := dst[(r+Pad)*Side+Pad : (r+Pad)*Side+Pad+w]
			for c, v := range src[r*w : (r+1)*w] {
				row[c] = toUnit[v]
			}
			// The right border of this row and the left border of the
			// next are adjacent.
			clear(dst[(r+Pad)*Side+Pad+w : (r+Pad+1)*Side+Pad])
		}
		clear(dst[(Side-Pad)*Side+Pad:])
		if y != nil {
			y[k] = int64(s.Labels[i])
		}
	}
	return nil
}
