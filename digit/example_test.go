package digit_test

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"

	"github.com/lenetkit/lenetkit/digit"
)

// A picture as a person sends one, a dark 7 on white paper, made into the
// model's input: decoded within a budget of pixels, prepared as MNIST's
// digits were, and padded to 1x32x32.
func Example() {
	// Draw the 7: a bar along the top and a stroke down to the lower left.
	pic := image.NewGray(image.Rect(0, 0, 60, 80))
	for i := range pic.Pix {
		pic.Pix[i] = 255
	}
	for y := 10; y < 70; y++ {
		for x := 10; x < 50; x++ {
			diag := 50 - (y-10)*30/60 // the stroke's centre on row y
			if y < 18 || y >= 18 && x >= diag-5 && x < diag+5 {
				pic.SetGray(x, y, color.Gray{Y: 20})
			}
		}
	}
	var file bytes.Buffer
	if err := png.Encode(&file, pic); err != nil {
		fmt.Println(err)
		return
	}

	img, err := digit.Decode(bytes.NewReader(file.Bytes()), 4_000_000)
	if err != nil {
		fmt.Println(err)
		return
	}
	d, report, err := digit.Prepare(img, digit.InvertAuto)
	if err != nil {
		fmt.Println(err)
		return
	}
	x := make([]float32, digit.InputLen)
	if err := digit.Fill(d, x); err != nil {
		fmt.Println(err)
		return
	}
	// The ink's box in the 32x32 input: 20 pixels tall, placed by its
	// centre of mass, 2 pixels of padding or more around it.
	side := digit.Side + 2*digit.Pad
	box := image.Rectangle{Min: image.Pt(side, side)}
	for i, v := range x {
		if v > 0 {
			box = box.Union(image.Rect(i%side, i/side, i%side+1, i/side+1))
		}
	}
	fmt.Printf("digit %v, %d mark, several marks %v, polarity guessed %v\n", d.Bounds().Size(), report.Marks, report.SeveralMarks, report.Guessed)
	fmt.Printf("input of %d floats, ink in %v\n", len(x), box)

	// Over a budget of pixels, the picture is refused from its header,
	// before any pixel is decoded.
	_, err = digit.Decode(bytes.NewReader(file.Bytes()), 1000)
	fmt.Println(err)
	// Output:
	// digit (28,28), 1 mark, several marks false, polarity guessed false
	// input of 1024 floats, ink in (9,9)-(22,29)
	// the image is 60x80 pixels, over the budget of 1000; send a smaller image
}
