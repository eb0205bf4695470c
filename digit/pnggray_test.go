package digit

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
)

// greyPNGs are PNG files as encoders write them: the clean MNIST digits,
// and grey images png.Encode writes at every compression level, whose
// rows take each of the five filters, one large enough for several IDAT
// chunks.
func greyPNGs(t testing.TB) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	files, _ := filepath.Glob(filepath.Join(testtool.Testdata("images/clean"), "*.png"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	if len(files) == 0 {
		t.Fatal("no clean digits")
	}
	for _, size := range []int{1, 3, 28, 300} {
		g := image.NewGray(image.Rect(0, 0, size, size+1))
		for i := range g.Pix {
			x, y := i%size, i/size
			g.Pix[i] = uint8(x*x/3 + 7*y + (x*y)%11) // smooth and rough parts: every filter wins somewhere
		}
		for _, level := range []png.CompressionLevel{png.NoCompression, png.BestSpeed, png.DefaultCompression, png.BestCompression} {
			var b bytes.Buffer
			if err := (&png.Encoder{CompressionLevel: level}).Encode(&b, g); err != nil {
				t.Fatal(err)
			}
			out[filepath.Join("encoded", string(rune('a'+size%26)), string(rune('0'+int(-level))))] = b.Bytes()
		}
	}
	return out
}

// sameAsPNG fails unless image/png decodes data into img's pixels, when
// grayPNG decoded it.
func sameAsPNG(t *testing.T, data []byte, img *image.Gray) {
	t.Helper()
	want, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("grayPNG decoded what image/png refuses (%v): %q", err, data)
	}
	g, ok := want.(*image.Gray)
	if !ok || g.Rect != img.Rect || g.Stride != img.Stride || !bytes.Equal(g.Pix, img.Pix) {
		t.Fatalf("grayPNG decoded %v other than image/png's %T %v: %q", img.Rect, want, want.Bounds(), data)
	}
}

func TestGrayPNG(t *testing.T) {
	for name, data := range greyPNGs(t) {
		img, ok := grayPNG(data, grayPNGPixels)
		if !ok {
			t.Errorf("%s: declined an 8-bit grey PNG", name)
			continue
		}
		sameAsPNG(t, data, img)
		if _, ok := grayPNG(data, uint64(img.Rect.Dx()*img.Rect.Dy()-1)); ok {
			t.Errorf("%s: decoded over its pixel budget", name)
		}
	}
	// What it must leave to image/png.
	var rgba, alpha bytes.Buffer
	png.Encode(&rgba, image.NewRGBA(image.Rect(0, 0, 4, 4)))
	na := image.NewNRGBA(image.Rect(0, 0, 4, 4))
	na.Set(1, 1, color.NRGBA{1, 2, 3, 4})
	png.Encode(&alpha, na)
	digit := greyPNGs(t)["00000.png"]
	for name, data := range map[string][]byte{
		"RGBA":      rgba.Bytes(),
		"NRGBA":     alpha.Bytes(),
		"truncated": digit[:len(digit)-1],
		"bad CRC":   append(append([]byte{}, digit[:len(digit)-1]...), digit[len(digit)-1]^1),
		"no IEND":   digit[:len(digit)-12],
		"JPEG":      []byte("\xff\xd8\xff\xe0"),
	} {
		if _, ok := grayPNG(data, grayPNGPixels); ok {
			t.Errorf("%s: decoded", name)
		}
	}
}

// FuzzGrayPNG: what grayPNG decodes, image/png decodes alike.
func FuzzGrayPNG(f *testing.F) {
	for _, data := range greyPNGs(f) {
		if len(data) < 4096 {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if img, ok := grayPNG(data, grayPNGPixels); ok {
			sameAsPNG(t, data, img)
		}
	})
}

// FuzzGrayPNGStream fuzzes what lies under the checksums: a w x h grey
// PNG whose IDAT data, split into chunks at cut, is z (seeded with zlib
// streams of rows under every filter), its checksums right, an ancillary
// chunk before it and a trailing IDAT after it when asked.
func FuzzGrayPNGStream(f *testing.F) {
	for _, data := range greyPNGs(f) {
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			f.Fatal(err)
		}
		b := img.Bounds()
		if b.Dx() > 255 || b.Dy() > 255 {
			continue
		}
		var z []byte
		rest := data[8:]
		for len(rest) >= 12 {
			n := int(binary.BigEndian.Uint32(rest))
			if string(rest[4:8]) == "IDAT" {
				z = append(z, rest[8:8+n]...)
			}
			rest = rest[12+n:]
		}
		f.Add(uint8(b.Dx()), uint8(b.Dy()), z, uint16(len(z)/2), uint8(0))
		f.Add(uint8(b.Dx()), uint8(b.Dy()), z, uint16(len(z)), uint8(3))
	}
	f.Fuzz(func(t *testing.T, w, h uint8, z []byte, cut uint16, extra uint8) {
		chunk := func(b []byte, typ string, body []byte) []byte {
			b = binary.BigEndian.AppendUint32(b, uint32(len(body)))
			c := append([]byte(typ), body...)
			b = append(b, c...)
			return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(c))
		}
		ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
		ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
		ihdr = append(ihdr, 8, 0, 0, 0, 0)
		data := chunk([]byte("\x89PNG\r\n\x1a\n"), "IHDR", ihdr)
		if extra&1 != 0 {
			data = chunk(data, "gAMA", []byte{0, 0, 0xb1, 0x8f})
		}
		k := min(int(cut), len(z))
		data = chunk(data, "IDAT", z[:k])
		if k < len(z) || extra&4 != 0 {
			data = chunk(data, "IDAT", z[k:])
		}
		if extra&2 != 0 {
			data = chunk(data, "IDAT", []byte{1, 2, 3})
		}
		data = chunk(data, "IEND", nil)
		if img, ok := grayPNG(data, grayPNGPixels); ok {
			sameAsPNG(t, data, img)
		}
	})
}
