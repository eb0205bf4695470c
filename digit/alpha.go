package digit

import (
	"image"
	"image/color"
)

// Ink held in the alpha channel: what drawing apps export, a stroke of one
// colour on a transparent layer.
const (
	// alphaSolid is the least alpha, of 255, of a pixel whose colour
	// counts when telling whether the ink is of one colour: the colour of
	// fainter pixels, divided by their alpha, is mostly rounding.
	alphaSolid = 128
	// alphaClear is the most alpha of a pixel that counts as transparent.
	alphaClear = 8
	// alphaBackground is the least share of transparent pixels, in
	// 1/100, of a picture drawn on a transparent layer.
	alphaBackground = 10
	// alphaSpread is the most that a channel of the solid pixels' colour
	// may spread, from its 2nd to its 98th percentile, for the ink to be
	// of one colour.
	alphaSpread = 48
)

// alphaInk returns the image's alpha channel as 8-bit grey levels, light
// ink on dark, when the image holds its digit there: when at least a tenth
// of it is transparent and its solid pixels are all of about one colour,
// whatever that colour is. White ink on a transparent layer, which would
// vanish over white paper, and black ink, which would vanish over black,
// read alike. An opaque image, or one whose solid pixels differ in colour
// (a picture with a transparent margin), is not read this way.
func alphaInk(img image.Image) ([]byte, bool) {
	if o, ok := img.(interface{ Opaque() bool }); ok && o.Opaque() {
		return nil, false
	}
	b := img.Bounds()
	w := b.Dx()
	alpha := make([]byte, w*b.Dy())
	var hist [3][256]int
	solid, clear := 0, 0
	// add counts one pixel, given as non-premultiplied 8-bit values.
	add := func(i int, r, g, bl, a uint8) {
		alpha[i] = a
		switch {
		case a <= alphaClear:
			clear++
		case a >= alphaSolid:
			solid++
			hist[0][r]++
			hist[1][g]++
			hist[2][bl]++
		}
	}
	i := 0
	switch m := img.(type) {
	case *image.NRGBA:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			off := m.PixOffset(b.Min.X, y)
			row := m.Pix[off : off+4*w]
			for j := 0; j < len(row); j += 4 {
				add(i, row[j], row[j+1], row[j+2], row[j+3])
				i++
			}
		}
	case *image.RGBA:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			off := m.PixOffset(b.Min.X, y)
			row := m.Pix[off : off+4*w]
			for j := 0; j < len(row); j += 4 {
				a := uint32(row[j+3])
				if a == 0 {
					add(i, 0, 0, 0, 0)
				} else {
					// As color.NRGBAModel divides by alpha, in 16 bits.
					un := func(v uint8) uint8 { return uint8(uint32(v) * 0x101 * 0xffff / (a * 0x101) >> 8) }
					add(i, un(row[j]), un(row[j+1]), un(row[j+2]), row[j+3])
				}
				i++
			}
		}
	default:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
				add(i, c.R, c.G, c.B, c.A)
				i++
			}
		}
	}
	if solid == 0 || 100*clear < alphaBackground*len(alpha) {
		return nil, false
	}
	for c := range hist {
		if percentile(&hist[c], 0.98)-percentile(&hist[c], 0.02) > alphaSpread {
			return nil, false
		}
	}
	return alpha, true
}
