package digit

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"io"
	"sync"
)

// A fast path for the PNG a digit usually comes as, small and 8-bit grey:
// image/png makes a zlib reader (and its 32 KB window) and two row buffers
// for every image, which under a server's load was most of the cost of
// decoding a digit. grayPNG reads such a file from memory with a zlib
// reader kept for the next image, and takes only what image/png takes with
// the same pixels: a non-interlaced 8-bit grey image whose chunks are all
// intact, and whose zlib stream fills its IDAT chunks exactly to the last
// row. Anything else (another colour type, a tRNS or PLTE chunk, a damaged
// or unusual file) is declined and goes to image/png, which decodes it or
// says what is wrong, as before. FuzzGrayPNG checks it against image/png.

const (
	// smallPNG is the largest file grayPNG is tried on: an MNIST-sized
	// digit is a few hundred bytes.
	smallPNG = 64 << 10
	// grayPNGPixels is the largest image, in pixels, it decodes.
	grayPNGPixels = 1 << 20
)

var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// zlibReaders keeps zlib readers, and their windows, between images.
var zlibReaders sync.Pool

// grayPNG decodes data when it is a PNG that image/png would decode into
// an *image.Gray (see above) of at most maxPixels pixels, and tells
// whether it did.
func grayPNG(data []byte, maxPixels uint64) (*image.Gray, bool) {
	if !bytes.HasPrefix(data, pngSignature) {
		return nil, false
	}
	rest := data[len(pngSignature):]
	// chunk takes the next chunk off rest, its checksum checked.
	chunk := func() (typ string, body []byte, ok bool) {
		if len(rest) < 12 {
			return "", nil, false
		}
		n := binary.BigEndian.Uint32(rest)
		if n > 0x7fffffff || uint64(n) > uint64(len(rest)-12) {
			return "", nil, false
		}
		if crc32.ChecksumIEEE(rest[4:8+n]) != binary.BigEndian.Uint32(rest[8+n:]) {
			return "", nil, false
		}
		typ, body, rest = string(rest[4:8]), rest[8:8+n], rest[12+n:]
		return typ, body, true
	}
	typ, hdr, ok := chunk()
	if !ok || typ != "IHDR" || len(hdr) != 13 {
		return nil, false
	}
	w, h := binary.BigEndian.Uint32(hdr[0:4]), binary.BigEndian.Uint32(hdr[4:8])
	// 8-bit grey, deflate, the standard filters, no interlace.
	if w == 0 || h == 0 || w > grayPNGPixels || h > grayPNGPixels || uint64(w)*uint64(h) > min(grayPNGPixels, maxPixels) ||
		hdr[8] != 8 || hdr[9] != 0 || hdr[10] != 0 || hdr[11] != 0 || hdr[12] != 0 {
		return nil, false
	}
	// Chunks before the image data, which image/png skips, then the run
	// of IDAT chunks whose data is the zlib stream.
	var z []byte
	idats := 0
	for {
		typ, body, ok := chunk()
		if !ok {
			return nil, false
		}
		if typ == "IDAT" {
			idats++
			if idats == 1 {
				z = body
			} else {
				if idats == 2 {
					z = append([]byte(nil), z...)
				}
				z = append(z, body...)
			}
			// image/png reads on into the next chunk, of any length, when
			// it is an IDAT.
			if len(rest) >= 8 && string(rest[4:8]) == "IDAT" {
				continue
			}
			break
		}
		if idats > 0 || typ == "IHDR" || typ == "PLTE" || typ == "tRNS" || typ == "IEND" {
			return nil, false
		}
	}
	// After it, until IEND: chunks image/png skips, trailing IDATs among
	// them.
	for {
		typ, body, ok := chunk()
		if !ok {
			return nil, false
		}
		if typ == "IEND" {
			if len(body) != 0 {
				return nil, false
			}
			break
		}
		if typ == "IHDR" || typ == "PLTE" || typ == "tRNS" {
			return nil, false
		}
	}
	return inflateGray(z, int(w), int(h))
}

// inflateGray decompresses the zlib stream z of a w x h 8-bit grey image
// and undoes its rows' filters. The stream must hold exactly the image's
// rows and end exactly at z's end.
func inflateGray(z []byte, w, h int) (*image.Gray, bool) {
	src := bytes.NewReader(z)
	zr, _ := zlibReaders.Get().(io.ReadCloser)
	if zr == nil {
		var err error
		if zr, err = zlib.NewReader(src); err != nil {
			return nil, false
		}
	} else if err := zr.(zlib.Resetter).Reset(src, nil); err != nil {
		zlibReaders.Put(zr)
		return nil, false
	}
	defer zlibReaders.Put(zr)
	img := image.NewGray(image.Rect(0, 0, w, h))
	var filter [1]byte
	prev := make([]byte, w) // the row above the first: zeros
	for y := range h {
		row := img.Pix[y*w : (y+1)*w]
		if _, err := io.ReadFull(zr, filter[:]); err != nil {
			return nil, false
		}
		if _, err := io.ReadFull(zr, row); err != nil {
			return nil, false
		}
		if !unfilter(filter[0], row, prev) {
			return nil, false
		}
		prev = row
	}
	// The stream ends here, its checksum right, at z's end.
	if n, err := zr.Read(filter[:]); n != 0 || err != io.EOF || src.Len() != 0 {
		return nil, false
	}
	return img, true
}

// unfilter undoes a row's PNG filter, one byte a pixel, given the row
// above (unfiltered).
func unfilter(f byte, cur, prev []byte) bool {
	switch f {
	case 0:
	case 1: // Sub
		for i := 1; i < len(cur); i++ {
			cur[i] += cur[i-1]
		}
	case 2: // Up
		for i, p := range prev {
			cur[i] += p
		}
	case 3: // Average
		cur[0] += prev[0] / 2
		for i := 1; i < len(cur); i++ {
			cur[i] += uint8((int(cur[i-1]) + int(prev[i])) / 2)
		}
	case 4: // Paeth
		for i := range cur {
			var a, c int
			if i > 0 {
				a, c = int(cur[i-1]), int(prev[i-1])
			}
			b := int(prev[i])
			pa, pb, pc := max(b-c, c-b), max(a-c, c-a), max(a+b-2*c, 2*c-a-b)
			switch {
			case pa <= pb && pa <= pc:
				cur[i] += uint8(a)
			case pb <= pc:
				cur[i] += uint8(b)
			default:
				cur[i] += uint8(c)
			}
		}
	default:
		return false
	}
	return true
}
