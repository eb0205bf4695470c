package dataset

import (
	"errors"
	"image"
	"image/color"

	"github.com/lenetkit/lenetkit/digit"
)

// Colour is how many channels ColourPlanes makes: red, green and blue.
const Colour = 3

// ColourPlanes makes img a colour model's h x w input as torchvision's
// transforms make a picture: its red, green and blue as PIL's
// convert("RGB") gives them (alpha dropped, grey repeated), each resized
// to h x w (bilinear, or by area when area) as Resize does, plane after
// plane, Colour*h*w bytes. Invert digit.InvertAlways makes the negative,
// as it does for grey pictures; any other keeps the colours.
func ColourPlanes(img image.Image, h, w int, area bool, inv digit.Invert) ([]byte, error) {
	if img == nil || img.Bounds().Empty() {
		return nil, errors.New("dataset: the image has no pixels")
	}
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	planes := [Colour][]byte{make([]byte, sw*sh), make([]byte, sw*sh), make([]byte, sw*sh)}
	for y := range sh {
		for x := range sw {
			c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
			i := y*sw + x
			planes[0][i], planes[1][i], planes[2][i] = c.R, c.G, c.B
		}
	}
	out := make([]byte, 0, Colour*h*w)
	for _, p := range planes {
		r, err := Resize(p, sw, sh, w, h, area)
		if err != nil {
			return nil, err
		}
		out = append(out, r...)
	}
	if inv == digit.InvertAlways {
		for i, v := range out {
			out[i] = 255 - v
		}
	}
	return out, nil
}
