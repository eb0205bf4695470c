package digit

import (
	"image"
	"image/color"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
)

// TestPrepareFill: Prepare then Fill writes the very floats Preprocess
// does, for pictures of every kind, a digit held in a larger image's
// rectangle included; and Prepare reports what infer's Classify flags.
func TestPrepareFill(t *testing.T) {
	fig := seven(50, 70, image.Rect(5, 10, 45, 60))
	layer := image.NewNRGBA(fig.Bounds())
	for i, v := range fig.Pix {
		copy(layer.Pix[4*i:], []uint8{255, 255, 255, v})
	}
	// "11": two strokes side by side, several marks.
	two := image.NewGray(image.Rect(0, 0, 60, 40))
	for y := 5; y < 35; y++ {
		for x := range 4 {
			two.SetGray(12+x, y, color.Gray{Y: 255})
			two.SetGray(44+x, y, color.Gray{Y: 255})
		}
	}
	// A photograph of a 7 on a sheet that covers part of a desk: the
	// paper is a guess.
	desk, err := DecodeFile(testtool.Testdata("images/nondigits/7_on_desk.png"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		img  image.Image
		want Report
	}{
		{"light on dark", fig, Report{Marks: 1}},
		{"dark on white", paper(fig, color.RGBA{A: 255}, color.RGBA{255, 255, 255, 255}), Report{Marks: 1}},
		{"transparent layer", layer, Report{Marks: 1}},
		{"two strokes", two, Report{Marks: 2, SeveralMarks: true}},
		{"on a desk", desk, Report{Guessed: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, r, err := Prepare(tc.img, InvertAuto)
			if err != nil {
				t.Fatal(err)
			}
			if r.SeveralMarks != tc.want.SeveralMarks || r.Guessed != tc.want.Guessed || tc.want.Marks > 0 && r.Marks != tc.want.Marks {
				t.Errorf("report %+v, want %+v", r, tc.want)
			}
			got := make([]float32, InputLen)
			if err := Fill(d, got); err != nil {
				t.Fatal(err)
			}
			if want := preprocessed(t, tc.img); !sameBits(got, want) {
				t.Error("Prepare and Fill differ from Preprocess")
			}
			// The same digit as the rectangle of a larger image.
			big := image.NewGray(image.Rect(-3, -5, 40, 40))
			for y := range Side {
				for x := range Side {
					big.SetGray(x+2, y+1, d.GrayAt(x, y))
				}
			}
			sub := big.SubImage(image.Rect(2, 1, 2+Side, 1+Side)).(*image.Gray)
			again := make([]float32, InputLen)
			if err := Fill(sub, again); err != nil {
				t.Fatal(err)
			}
			if !sameBits(again, got) {
				t.Error("Fill of a sub-image differs")
			}
		})
	}
}

// TestFillErrors: Fill refuses what is not a 28x28 digit, or a dst of the
// wrong size, in one line, without panicking.
func TestFillErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    *image.Gray
		dst  int
		want string
	}{
		{"nil", nil, InputLen, "digit: nil digit"},
		{"27x28", image.NewGray(image.Rect(0, 0, 27, 28)), InputLen, "digit: a digit is 28x28 pixels, got 27x28"},
		{"short dst", image.NewGray(image.Rect(0, 0, 28, 28)), 784, "digit: an image needs 1024 floats (1x32x32), got 784"},
		{"pixels missing", &image.Gray{Pix: make([]byte, 100), Stride: 28, Rect: image.Rect(0, 0, 28, 28)}, InputLen, "do not cover"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Fill(tc.d, make([]float32, tc.dst))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}
