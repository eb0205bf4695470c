package report

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"testing"
)

func TestConfusion(t *testing.T) {
	t.Parallel()
	counts := make([][]int, 10)
	for i := range counts {
		counts[i] = make([]int, 10)
		counts[i][i] = 980 + i
		counts[i][(i+3)%10] = i
	}
	b, err := Confusion(counts, "Confusion matrix")
	if err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, "confusion.png", b)
	// Ten cells of a hundred are dark blue: the diagonal's thousands.
	dark, all := 0, 0
	bd := img.Bounds()
	for y := bd.Min.Y; y < bd.Max.Y; y += 2 {
		for x := bd.Min.X; x < bd.Max.X; x += 2 {
			r, _, b, _ := img.At(x, y).RGBA()
			if b > r+0x4000 && r < 0x3000 {
				dark++
			}
			all++
		}
	}
	if f := float64(dark) / float64(all); f < 0.03 || f > 0.15 {
		t.Errorf("%.1f %% of the picture dark blue, want the diagonal's 10 cells of 100 in the plot", 100*f)
	}

	for _, bad := range [][][]int{nil, {{1, 2}, {3}}, {{-1}}} {
		if _, err := Confusion(bad, "x"); err == nil {
			t.Errorf("Confusion(%v) succeeded", bad)
		}
	}
}

func TestMisclassified(t *testing.T) {
	t.Parallel()
	digit := func(i int) Digit {
		img := image.NewGray(image.Rect(0, 0, 28, 28))
		for y := 4; y < 24; y++ {
			img.SetGray(8+i%12, y, color.Gray{255})
			img.SetGray(9+i%12, y, color.Gray{200})
		}
		return Digit{Image: img, Index: 100 + i, Label: i % 10, Prediction: (i + 1) % 10, Confidence: 0.5 + float64(i%50)/100}
	}
	var ds []Digit
	for i := range 30 {
		ds = append(ds, digit(i))
	}
	b, err := Misclassified(ds, "Misclassified test images: 30 of 10,000")
	if err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, "misclassified.png", b)
	if w, h := img.Bounds().Dx(), img.Bounds().Dy(); w != 12*cellWidth+16 || h != 70+3*cellHeight+8 {
		t.Errorf("30 digits drawn on %dx%d, want 12 columns and 3 rows", w, h)
	}

	var many []Digit
	for i := range 1000 {
		many = append(many, digit(i))
	}
	b, err = Misclassified(many, "many")
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := png.DecodeConfig(bytes.NewReader(b)); err != nil || cfg.Height != 70+maxGridDigits/12*cellHeight+8 {
		t.Errorf("1000 digits drawn %d pixels high (%v), want the first %d", cfg.Height, err, maxGridDigits)
	}

	if _, err := Misclassified(nil, "none"); err != nil {
		t.Errorf("no digits: %v", err)
	}
	if _, err := Misclassified([]Digit{{Index: 3}}, "x"); err == nil {
		t.Error("a digit without an image was drawn")
	}
	short := &image.Gray{Pix: make([]byte, 100), Stride: 28, Rect: image.Rect(0, 0, 28, 28)}
	if _, err := Misclassified([]Digit{{Image: short}}, "x"); err == nil {
		t.Error("a digit with too few pixels was drawn")
	}
}
