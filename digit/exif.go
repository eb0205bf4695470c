package digit

import (
	"encoding/binary"
	"image"
	"image/color"
)

// exifOrientation is the Orientation tag (1 to 8) of the Exif segment of
// the JPEG whose first bytes are data: how a camera turned the picture it
// stored, which viewers undo and so a person sees it; 1 (as stored) when
// there is none or it cannot be read.
func exifOrientation(data []byte) int {
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return 1
	}
	for at := 2; at+4 <= len(data) && data[at] == 0xFF; {
		marker, size := data[at+1], int(binary.BigEndian.Uint16(data[at+2:]))
		if marker == 0xDA || size < 2 || at+2+size > len(data) { // the scan, or cut short
			return 1
		}
		seg := data[at+4 : at+2+size]
		if marker == 0xE1 && len(seg) >= 14 && string(seg[:6]) == "Exif\x00\x00" {
			return tiffOrientation(seg[6:])
		}
		at += 2 + size
	}
	return 1
}

// tiffOrientation reads tag 0x0112 of a TIFF header's first directory.
func tiffOrientation(t []byte) int {
	var order binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		order = binary.LittleEndian
	case "MM":
		order = binary.BigEndian
	default:
		return 1
	}
	ifd := int(order.Uint32(t[4:]))
	if ifd < 8 || ifd+2 > len(t) {
		return 1
	}
	n := int(order.Uint16(t[ifd:]))
	for i := range n {
		e := ifd + 2 + 12*i
		if e+12 > len(t) {
			return 1
		}
		if order.Uint16(t[e:]) == 0x0112 && order.Uint16(t[e+2:]) == 3 { // SHORT
			if o := int(order.Uint16(t[e+8:])); o >= 1 && o <= 8 {
				return o
			}
			return 1
		}
	}
	return 1
}

// oriented is a picture as Exif orientation o says to show it, its
// pixels read from the stored one.
type oriented struct {
	src image.Image
	o   int
}

// orient returns img as a person sees it, Exif orientation o undone.
func orient(img image.Image, o int) image.Image {
	if o <= 1 || o > 8 {
		return img
	}
	return oriented{img, o}
}

func (p oriented) ColorModel() color.Model { return p.src.ColorModel() }

// Bounds are the stored picture's, their sides swapped for orientations
// 5 to 8, which turn it a quarter.
func (p oriented) Bounds() image.Rectangle {
	b := p.src.Bounds()
	if p.o >= 5 {
		return image.Rect(0, 0, b.Dy(), b.Dx())
	}
	return image.Rect(0, 0, b.Dx(), b.Dy())
}

// At maps a shown pixel to its stored one: Exif's orientations 2 (mirrored),
// 3 (turned half), 4 (flipped), 5 (transposed), 6 (turned a quarter
// clockwise to show), 7 (transversed), 8 (turned a quarter anticlockwise).
func (p oriented) At(x, y int) color.Color {
	b := p.src.Bounds()
	w, h := b.Dx(), b.Dy()
	var sx, sy int
	switch p.o {
	case 2:
		sx, sy = w-1-x, y
	case 3:
		sx, sy = w-1-x, h-1-y
	case 4:
		sx, sy = x, h-1-y
	case 5:
		sx, sy = y, x
	case 6:
		sx, sy = y, h-1-x
	case 7:
		sx, sy = w-1-y, h-1-x
	case 8:
		sx, sy = w-1-y, x
	}
	return p.src.At(b.Min.X+sx, b.Min.Y+sy)
}
