package dataset

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/image/bmp"
)

// stroke is a w x h picture of a dark bar on white paper, the bar's place
// set by k so that images differ.
func stroke(w, h, k int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.White)
		}
	}
	x0 := 4 + k%(w-10)
	for y := h / 5; y < 4*h/5; y++ {
		for x := x0; x < x0+3; x++ {
			img.Set(x, y, color.Black)
		}
	}
	return img
}

// encode writes img in the format its file name's extension says.
func encode(t testing.TB, path string, img image.Image) {
	t.Helper()
	var buf bytes.Buffer
	var err error
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png":
		err = png.Encode(&buf, img)
	case ".jpg", ".jpeg":
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95})
	case ".gif":
		err = gif.Encode(&buf, img, nil)
	case ".bmp":
		err = bmp.Encode(&buf, img)
	default:
		t.Fatalf("no encoder for %s", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, buf.Bytes())
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// idx is an IDX file of unsigned bytes: magic, dimensions, data.
func idx(magic uint32, dims []int, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, magic)
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, uint32(d))
	}
	return append(b, data...)
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writeIDX writes a part's pair of IDX files (gzipped when zip) into dir,
// its n images of 28x28 pixels all of value i for image i, and its labels.
func writeIDX(t testing.TB, dir, prefix, part string, labels []byte, zip bool) {
	t.Helper()
	p := map[string]string{"train": "train", "test": "t10k"}[part]
	pix := make([]byte, len(labels)*784)
	for i := range pix {
		pix[i] = byte(i / 784)
	}
	files := map[string][]byte{
		prefix + p + "-images-idx3-ubyte": idx(0x803, []int{len(labels), 28, 28}, pix),
		prefix + p + "-labels-idx1-ubyte": idx(0x801, []int{len(labels)}, labels),
	}
	for name, b := range files {
		if zip {
			name, b = name+".gz", gz(t, b)
		}
		writeFile(t, filepath.Join(dir, name), b)
	}
}

// oneLine fails unless err is one line that mentions every string in want.
func oneLine(t *testing.T, err error, want ...string) {
	t.Helper()
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("error spans lines: %q", msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not mention %q", msg, w)
		}
	}
}
