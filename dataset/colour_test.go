package dataset

import (
	"errors"
	"image"
	"image/color"
	"path/filepath"
	"testing"

	"github.com/lenetkit/lenetkit/digit"
)

// TestColourFolder: a folder read in colour is a Set of Colour planes, its
// pictures' red, green and blue each resized (ColourPlanes), which Fill
// pads plane by plane; colour needs the resize preparation, and IDX sets
// are grey.
func TestColourFolder(t *testing.T) {
	dir := t.TempDir()
	img := image.NewNRGBA(image.Rect(0, 0, 4, 4))
	for y := range 4 {
		for x := range 4 {
			img.SetNRGBA(x, y, color.NRGBA{R: 255, G: uint8(60 * y), B: 0, A: 255})
		}
	}
	encode(t, filepath.Join(dir, "red", "a.png"), img)
	encode(t, filepath.Join(dir, "blue", "b.png"), image.NewGray(image.Rect(0, 0, 4, 4)))
	d, err := Open(dir, Options{Colour: true, Prep: PrepResize, Height: 4, Width: 4})
	if err != nil {
		t.Fatal(err)
	}
	s := d.Train
	if s.Channels != Colour || len(s.Pixels(0)) != Colour*16 {
		t.Fatalf("%d channels, %d bytes an image", s.Channels, len(s.Pixels(0)))
	}
	want, err := ColourPlanes(img, 4, 4, false, digit.InvertAuto)
	if err != nil {
		t.Fatal(err)
	}
	i := 0 // the red picture's index
	if d.Classes[s.Label(0)] != "red" {
		i = 1
	}
	x := make([]float32, Colour*6*6)
	if err := s.Fill([]int{i}, x, nil, FillOptions{Pad: 1}); err != nil {
		t.Fatal(err)
	}
	for c := range Colour {
		for r := range 4 {
			for k := range 4 {
				if got, w := x[c*36+(r+1)*6+k+1], float32(want[c*16+r*4+k])/255; got != w {
					t.Fatalf("plane %d (%d, %d): %v, want %v", c, r, k, got, w)
				}
			}
		}
		if x[c*36] != 0 {
			t.Errorf("plane %d: the padding is %v", c, x[c*36])
		}
	}
	if _, err := Open(dir, Options{Colour: true, Prep: PrepDigit, Height: 28, Width: 28}); !errors.Is(err, ErrOption) {
		t.Errorf("colour with the digit preparation: %v", err)
	}
	idx := t.TempDir()
	writeIDX(t, idx, "", "test", []byte{0, 1}, false)
	if _, err := Open(idx, Options{Colour: true, Prep: PrepResize}); !errors.Is(err, ErrOption) {
		t.Errorf("colour IDX: %v", err)
	}
}
