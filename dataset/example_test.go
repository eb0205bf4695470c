package dataset_test

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"log"
	"os"
	"path/filepath"

	"github.com/lenetkit/lenetkit/dataset"
)

// Example opens an image folder of two classes, splits off a validation
// set and fills an augmented training batch, as a trainer does.
func Example() {
	root, err := os.MkdirTemp("", "dataset-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)
	// Ten 40x30 pictures of each class: a white square ("box") or a
	// white bar ("bar") on black.
	for _, class := range []string{"box", "bar"} {
		os.MkdirAll(filepath.Join(root, class), 0o755)
		for i := range 10 {
			img := image.NewGray(image.Rect(0, 0, 40, 30))
			for y := 8; y < 22; y++ {
				for x := 10 + i; x < 14+i+map[string]int{"box": 10, "bar": 0}[class]; x++ {
					img.SetGray(x, y, color.Gray{255})
				}
			}
			f, _ := os.Create(filepath.Join(root, class, fmt.Sprintf("%02d.png", i)))
			png.Encode(f, img)
			f.Close()
		}
	}

	data, err := dataset.Open(root, dataset.Options{Prep: dataset.PrepResize, Height: 24, Width: 24})
	if err != nil {
		log.Fatal(err)
	}
	train, val, err := data.Train.Split(dataset.Val{Fraction: 0.2}, 1)
	if err != nil {
		log.Fatal(err)
	}
	aug, err := dataset.ParseAugment("shift=2,rotate=10")
	if err != nil {
		log.Fatal(err)
	}
	batch := []int{0, 1, 2, 3}
	x := make([]float32, len(batch)*train.Height*train.Width)
	y := make([]int64, len(batch))
	if err := train.Fill(batch, x, y, dataset.FillOptions{Augment: aug, Seed: 1, Epoch: 0}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("classes:", data.Classes, "counts:", data.Train.Counts())
	fmt.Println("train:", train.Len(), "validation:", val.Len(), "of", train.Height, "x", train.Width)
	fmt.Println("augment:", aug, "batch floats:", len(x))
	// Output:
	// classes: [bar box] counts: [10 10]
	// train: 16 validation: 4 of 24 x 24
	// augment: shift=2,rotate=10 batch floats: 2304
}
