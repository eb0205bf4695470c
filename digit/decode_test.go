package digit

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// pngHeader is the start of a PNG whose header claims a w x h 8-bit grey
// image, its checksum right, and no pixel data.
func pngHeader(w, h int) []byte {
	b := []byte("\x89PNG\r\n\x1a\n")
	ihdr := binary.BigEndian.AppendUint32([]byte("IHDR"), uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	ihdr = append(ihdr, 8, 0, 0, 0, 0) // 8 bits, grey, deflate, no filter, no interlace
	b = binary.BigEndian.AppendUint32(b, uint32(len(ihdr)-4))
	b = append(b, ihdr...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(ihdr))
}

// failing is a reader that gives what r gives, then err where r ends.
type failing struct {
	r   io.Reader
	err error
}

func (f *failing) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

// TestDecode checks Decode's budget on pixels, set or not, from the header
// alone, and how each kind of failure is told: over the budget (ErrTooLarge
// and ErrNotImage), not an image (ErrNotImage alone), and the reader's own
// error (neither).
func TestDecode(t *testing.T) {
	fig := paper(seven(30, 40, image.Rect(3, 3, 27, 37)), color.RGBA{A: 255}, color.RGBA{255, 255, 255, 255})
	good := encode(t, "png", fig)
	errNet := errors.New("connection reset")
	for _, tc := range []struct {
		name      string
		r         io.Reader
		maxPixels int
		tooLarge  bool
		notImage  bool
		want      string // in the error; "" for none
	}{
		{"within the budget", bytes.NewReader(good), 1200, false, false, ""},
		{"one pixel over the budget", bytes.NewReader(good), 1199, true, true, "the image is 30x40 pixels, over the budget of 1199; send a smaller image"},
		{"no budget: the default bound", bytes.NewReader(good), 0, false, false, ""},
		{"a reader that cannot seek, a byte at a time", iotest.OneByteReader(bytes.NewReader(good)), 1200, false, false, ""},
		{"JPEG", bytes.NewReader(encode(t, "jpeg", fig)), 1200, false, false, ""},
		{"GIF", bytes.NewReader(encode(t, "gif", fig)), 1200, false, false, ""},
		{"BMP", bytes.NewReader(encode(t, "bmp", fig)), 1200, false, false, ""},
		{"a header claiming 5000x5000", bytes.NewReader(pngHeader(5000, 5000)), 4_000_000, true, true, "the image is 5000x5000 pixels, over the budget of 4000000; send a smaller image"},
		{"a header claiming 5000x5000, no budget", bytes.NewReader(pngHeader(5000, 5000)), 0, false, true, "truncated PNG"},
		{"a header claiming 100000x100000, no budget", bytes.NewReader(pngHeader(100000, 100000)), 0, true, true, "PNG image too large: 100000x100000 pixels, at most 67108864"},
		{"a header claiming 100000x100000, a larger budget", bytes.NewReader(pngHeader(100000, 100000)), 1 << 40, true, true, "too large to decode"},
		{"a header claiming 2000x2000", bytes.NewReader(pngHeader(2000, 2000)), 4_000_000, false, true, "truncated PNG: unexpected EOF"},
		{"text", strings.NewReader("these are not pixels"), 4_000_000, false, true, "not a PNG, JPEG, GIF or BMP image"},
		{"nothing", strings.NewReader(""), 4_000_000, false, true, "not a PNG, JPEG, GIF or BMP image"},
		{"truncated PNG", bytes.NewReader(good[:len(good)/2]), 4_000_000, false, true, "truncated PNG: unexpected EOF"},
		{"a reader failing in the pixels", &failing{bytes.NewReader(good[:len(good)/2]), errNet}, 4_000_000, false, false, "connection reset"},
		{"a reader failing at once", iotest.ErrReader(errNet), 4_000_000, false, false, "connection reset"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			img, err := Decode(tc.r, tc.maxPixels)
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v", d)
			}
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if img.Bounds() != fig.Bounds() {
					t.Errorf("decoded %v, want %v", img.Bounds(), fig.Bounds())
				}
				return
			}
			if err == nil {
				t.Fatalf("decoded %v, want an error with %q", img.Bounds(), tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q, want one line with %q", err, tc.want)
			}
			if errors.Is(err, ErrTooLarge) != tc.tooLarge || errors.Is(err, ErrNotImage) != tc.notImage {
				t.Errorf("error %q: ErrTooLarge %v, ErrNotImage %v; want %v, %v", err, errors.Is(err, ErrTooLarge), errors.Is(err, ErrNotImage), tc.tooLarge, tc.notImage)
			}
			if !tc.notImage && !errors.Is(err, errNet) {
				t.Errorf("error %q does not wrap the reader's", err)
			}
		})
	}
}
