package digit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/gif" // registers the decoder that image.Decode chooses by the data's first bytes
	"image/jpeg"
	"image/png"
	"io"
	"slices"
	"strings"

	_ "golang.org/x/image/bmp"
)

// ErrTooLarge marks Decode's error for an image whose header claims more
// pixels than the budget, or more than decoding may take memory for. Such
// an error matches ErrNotImage too: the data is at fault either way, and a
// caller that only tells images from the rest need not know of this one.
var ErrTooLarge = errors.New("image too large")

// maxPixels bounds the images Decode reads when its caller sets no budget:
// a file of a few bytes can claim huge dimensions, and decoding it would
// exhaust memory.
const maxPixels = 1 << 26

// decodeBudget bounds the memory one image may take, decoded and prepared:
// a digit needs nothing near it, and a small file claiming a large image
// must not take the machine's memory.
const decodeBudget = 240 << 20

// tooLarge is an error of ErrTooLarge with a message of its own.
type tooLarge struct{ msg string }

func (e tooLarge) Error() string { return e.msg }
func (e tooLarge) Unwrap() error { return ErrTooLarge }

// Decode reads a PNG, JPEG, GIF or BMP image from r, choosing the decoder
// by the data's first bytes. It reads the image's header first and refuses
// an image of more than maxPixels pixels (width times height) before
// decoding any pixel, so that a few bytes claiming a huge image cannot take
// the machine's memory; maxPixels <= 0 means the bound DecodeFile keeps,
// 67,108,864 pixels. Whatever maxPixels, an image that would take more
// than 240 MB to decode and prepare is refused too.
//
// An image over either bound gives an error that matches ErrTooLarge and
// ErrNotImage; data that is not an image Decode can decode (another format,
// a truncated or damaged one) gives one that matches ErrNotImage. An error
// of r itself, other than io.EOF, is returned as it is, wrapped, and
// matches neither: the data did not arrive, which says nothing of it.
//
// A JPEG comes back as a person sees it: turned as its Exif Orientation
// says (a phone's picture), as PIL's ImageOps.exif_transpose turns it.
func Decode(r io.Reader, maxPixels int) (image.Image, error) {
	img, err := decode(r, maxPixels)
	if err != nil {
		if _, ok := err.(readError); ok {
			return nil, err
		}
		return nil, notImage{err}
	}
	return img, nil
}

// readError is an error of the reader Decode reads, rather than of the data.
type readError struct{ err error }

func (e readError) Error() string { return "reading the image: " + e.err.Error() }
func (e readError) Unwrap() error { return e.err }

// decode is Decode, its errors not yet marked ErrNotImage.
func decode(r io.Reader, budget int) (image.Image, error) {
	rr := &replay{r: r, keep: true}
	if rr.small(smallPNG) {
		maxPx := uint64(grayPNGPixels)
		if budget > 0 {
			maxPx = min(maxPx, uint64(budget))
		}
		if img, ok := grayPNG(rr.kept, maxPx); ok {
			return img, nil
		}
	}
	cfg, format, err := image.DecodeConfig(bufio.NewReader(rr.again()))
	if err != nil {
		return nil, rr.fault(decodeError(format, err))
	}
	px := int64(cfg.Width) * int64(cfg.Height)
	switch {
	case budget > 0 && px > int64(budget):
		return nil, tooLarge{fmt.Sprintf("the image is %dx%d pixels, over the budget of %d; send a smaller image", cfg.Width, cfg.Height, budget)}
	case budget <= 0 && px > maxPixels:
		return nil, tooLarge{fmt.Sprintf("%s image too large: %dx%d pixels, at most %d", strings.ToUpper(format), cfg.Width, cfg.Height, maxPixels)}
	}
	progressive := format == "jpeg" && progressiveJPEG(rr.again())
	if need := decodeCost(cfg, progressive); need > decodeBudget {
		kind := ""
		if progressive {
			kind = "progressive "
		}
		return nil, tooLarge{fmt.Sprintf("%s%s image too large to decode: %dx%d pixels would take about %d MB, at most %d MB",
			kind, strings.ToUpper(format), cfg.Width, cfg.Height, need>>20, decodeBudget>>20)}
	}
	rr.keep = false
	img, format, err := image.Decode(bufio.NewReader(rr.again()))
	if err != nil {
		return nil, rr.fault(decodeError(format, err))
	}
	if format == "jpeg" {
		// A phone's picture is stored as its sensor lay and shown turned
		// as its Exif says, which the header kept holds (it comes before
		// the frame that DecodeConfig read up to).
		img = orient(img, exifOrientation(rr.kept))
	}
	return img, nil
}

// replay reads r for Decode, keeping what it reads while keep is set, so
// that the header can be read before the image and the image from its first
// byte, whatever r is: a file, or a request's body that cannot seek.
type replay struct {
	r    io.Reader
	kept []byte
	keep bool
	err  error // the first error of r other than io.EOF
}

func (p *replay) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if p.keep {
		p.kept = append(p.kept, b[:n]...)
	}
	if err != nil && err != io.EOF && p.err == nil {
		p.err = err
	}
	return n, err
}

// small reads r to its end, keeping it, when r holds a PNG of at most
// limit bytes; it stops, and says so, once it is neither.
func (p *replay) small(limit int) bool {
	for empty := 0; len(p.kept) <= limit && empty < 100; {
		if len(p.kept) >= len(pngSignature) && !bytes.HasPrefix(p.kept, pngSignature) {
			return false
		}
		if len(p.kept) == cap(p.kept) {
			p.kept = slices.Grow(p.kept, 512)
		}
		n, err := p.r.Read(p.kept[len(p.kept):cap(p.kept)])
		p.kept = p.kept[:len(p.kept)+n]
		if n == 0 {
			empty++ // a reader that gives nothing goes to the decoders, which say so
		}
		switch {
		case err == io.EOF:
			return true
		case err != nil:
			if p.err == nil {
				p.err = err
			}
			return false
		}
	}
	return false
}

// again reads the data from its first byte: what was kept, then the rest
// of r.
func (p *replay) again() io.Reader {
	return io.MultiReader(bytes.NewReader(p.kept), p)
}

// fault is the error of a failed decoding: r's own when r failed, since a
// decoder reports a reader's error as damaged data, else err.
func (p *replay) fault(err error) error {
	if p.err != nil {
		return readError{p.err}
	}
	return err
}

// decodeCost estimates the bytes decoding and preparing an image takes: its
// pixels in the decoder's colour model, a progressive JPEG's coefficients
// (Go's decoder keeps 64 int32 per 8x8 block of every component until the
// last scan), and the few bytes a pixel the preparation adds.
func decodeCost(cfg image.Config, progressive bool) int64 {
	px := int64(cfg.Width) * int64(cfg.Height)
	perPixel := int64(4)
	components := int64(3)
	switch cfg.ColorModel {
	case color.YCbCrModel:
		perPixel = 3 // 4:4:4 at most
	case color.GrayModel, color.AlphaModel:
		perPixel, components = 1, 1
	case color.Gray16Model, color.Alpha16Model:
		perPixel, components = 2, 1
	case color.RGBA64Model, color.NRGBA64Model:
		perPixel = 8
	case color.CMYKModel:
		components = 4
	}
	if _, ok := cfg.ColorModel.(color.Palette); ok {
		perPixel = 1
	}
	cost := px * (perPixel + 5)
	if progressive {
		cost += px * components * 4
	}
	return cost
}

// progressiveJPEG tells whether the JPEG at r's start is progressive (its
// frame header is SOF2), reading marker segments up to the frame header.
func progressiveJPEG(r io.Reader) bool {
	br := bufio.NewReader(io.LimitReader(r, 1<<20))
	var b [4]byte
	if _, err := io.ReadFull(br, b[:2]); err != nil || b[0] != 0xff || b[1] != 0xd8 {
		return false
	}
	for {
		if _, err := io.ReadFull(br, b[:4]); err != nil || b[0] != 0xff {
			return false
		}
		switch marker := b[1]; {
		case marker == 0xc2 || marker == 0xc6 || marker == 0xca || marker == 0xce:
			return true
		case marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc:
			return false // another frame type: the image is not progressive
		}
		n := int(b[2])<<8 | int(b[3])
		if n < 2 {
			return false
		}
		if _, err := br.Discard(n - 2); err != nil {
			return false
		}
	}
}

// decodeError says what is wrong with the data in the words of a person
// looking at it, dropping the decoder's own "png: " prefix.
func decodeError(format string, err error) error {
	if errors.Is(err, image.ErrFormat) {
		return errors.New("not a PNG, JPEG, GIF or BMP image")
	}
	name := strings.ToUpper(format)
	if truncated(err) {
		return fmt.Errorf("truncated %s: %w", name, io.ErrUnexpectedEOF)
	}
	msg := strings.TrimPrefix(err.Error(), format+": ")
	return fmt.Errorf("cannot decode %s: %s", name, msg)
}

// truncated tells whether a decoder's error means that the data ended too
// soon. Some decoders say so in words of their own, or format io's error
// into their message.
func truncated(err error) bool {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	msg := err.Error()
	return strings.HasSuffix(msg, ": "+io.ErrUnexpectedEOF.Error()) ||
		strings.HasSuffix(msg, ": "+io.EOF.Error()) ||
		err == png.FormatError("not enough pixel data") ||
		err == jpeg.FormatError("short Huffman data") ||
		msg == "gif: not enough image data"
}
