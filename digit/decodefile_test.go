package digit

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestDecodeFile: an image decodes whatever its name; a file that is not
// one, or is cut short, is ErrNotImage; a missing file is not.
func TestDecodeFile(t *testing.T) {
	dir := t.TempDir()
	img := image.NewNRGBA(image.Rect(0, 0, 3, 2))
	img.Set(1, 1, color.NRGBA{255, 0, 0, 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name     string
		path     string
		notImage bool
		notExist bool
	}{
		{"png named .jpg", write("a.jpg", buf.Bytes()), false, false},
		{"text", write("b.png", []byte("hello")), true, false},
		{"truncated", write("c.png", buf.Bytes()[:buf.Len()/2]), true, false},
		{"missing", filepath.Join(dir, "none.png"), false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeFile(tc.path)
			if errors.Is(err, ErrNotImage) != tc.notImage || errors.Is(err, fs.ErrNotExist) != tc.notExist {
				t.Fatalf("DecodeFile: %v; want not-image %v, not-exist %v", err, tc.notImage, tc.notExist)
			}
			if err != nil {
				return
			}
			g, err := Grey(got)
			if err != nil {
				t.Fatal(err)
			}
			// Red is PIL's luma 76; the transparent rest is white paper.
			if g.Rect.Dx() != 3 || g.Rect.Dy() != 2 || g.GrayAt(1, 1).Y != 76 || g.GrayAt(0, 0).Y != 255 {
				t.Errorf("grey %v: pixel (1,1) %d, (0,0) %d; want 3x2, 76, 255", g.Rect, g.GrayAt(1, 1).Y, g.GrayAt(0, 0).Y)
			}
		})
	}
}
