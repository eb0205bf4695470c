package digit

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
)

// BenchmarkDigitPNG is what a server does with each MNIST digit sent as a
// 28x28 grey PNG: Decode, Prepare and Fill, per image.
func BenchmarkDigitPNG(b *testing.B) {
	files, _ := filepath.Glob(filepath.Join(testtool.Testdata("images/clean"), "*.png"))
	if len(files) == 0 {
		b.Fatal("no clean digits")
	}
	var pngs [][]byte
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		pngs = append(pngs, data)
	}
	dst := make([]float32, InputLen)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		img, err := Decode(bytes.NewReader(pngs[i%len(pngs)]), 0)
		if err != nil {
			b.Fatal(err)
		}
		d, _, err := Prepare(img, InvertAuto)
		if err != nil {
			b.Fatal(err)
		}
		if err := Fill(d, dst); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
