package infer

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/lenetkit/lenetkit/digit"
	"github.com/lenetkit/lenetkit/internal/mnisttest"
	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/mnist"
)

// TestSampleImages classifies the sample in testdata/images, 20 digits of
// each kind that reference/photo_digits.py makes from the first MNIST test
// digits, with the seed-like weights: dark ink photographed on grey paper
// (uneven light, blur, grain, dust, JPEG), white or coloured strokes on a
// transparent layer, and MNIST's own digits as PNG. Before the photographs
// were evened out and alpha read as ink, they scored 13 and 2 of 20.
func TestSampleImages(t *testing.T) {
	m, err := Open(testtool.Testdata("lenet_trained.pth"), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		kind     string
		minRight int
	}{
		{"clean", 20},
		{"photo", 18},
		{"transparent", 18},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			dir := testtool.Testdata(filepath.Join("images", tc.kind))
			f, err := os.Open(filepath.Join(dir, "labels.csv"))
			if err != nil {
				t.Fatal(err)
			}
			rows, err := csv.NewReader(f).ReadAll()
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			rows = rows[1:]
			x := make([]float32, len(rows)*mnist.PixelCount)
			labels := make([]int, len(rows))
			for i, r := range rows {
				if labels[i], err = strconv.Atoi(r[1]); err != nil {
					t.Fatal(err)
				}
				if err := digit.LoadImage(filepath.Join(dir, r[0]), x[i*mnist.PixelCount:(i+1)*mnist.PixelCount]); err != nil {
					t.Fatal(err)
				}
			}
			logits := make([]float32, len(rows)*lenet.Classes)
			if err := m.Logits(logits, x, len(rows)); err != nil {
				t.Fatal(err)
			}
			right := 0
			for i, r := range rows {
				if d := mnist.Argmax(logits[i*lenet.Classes : (i+1)*lenet.Classes]); d == labels[i] {
					right++
				} else {
					t.Logf("%s: %d, labelled %d", r[0], d, labels[i])
				}
			}
			t.Logf("%d of %d right", right, len(rows))
			if len(rows) != 20 || right < tc.minRight {
				t.Errorf("%d of %d right, want at least %d of 20", right, len(rows), tc.minRight)
			}
		})
	}
}

// TestMNISTImageFolder writes the first thousand real MNIST test digits as
// PNG files in the ImageFolder layout: Walk finds each with its directory's
// label, and digit.LoadImage gives exactly the input the IDX path makes of
// it.
func TestMNISTImageFolder(t *testing.T) {
	set := mnisttest.Set(t, "test")
	const files = 1000
	dir := t.TempDir()
	for i := range files {
		img := image.NewGray(image.Rect(0, 0, 28, 28))
		copy(img.Pix, set.Images[i*784:(i+1)*784])
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, fmt.Sprint(set.Labels[i]), fmt.Sprintf("%05d.png", i)), buf.Bytes())
	}
	got := make([]float32, mnist.PixelCount)
	want := make([]float32, mnist.PixelCount)
	n := 0
	err := Walk([]string{dir}, func(it Item) error {
		var i int
		if _, err := fmt.Sscanf(filepath.Base(it.Path), "%05d.png", &i); err != nil {
			return err
		}
		if it.Label != int(set.Labels[i]) {
			t.Errorf("%s: label %d, want %d", it.Path, it.Label, set.Labels[i])
		}
		if err := digit.LoadImage(it.Path, got); err != nil {
			return err
		}
		if err := set.Fill([]int{i}, want, nil); err != nil {
			return err
		}
		if !slices.EqualFunc(got, want, func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }) {
			t.Errorf("%s differs from the IDX path", it.Path)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != files {
		t.Errorf("read %d files, want %d", n, files)
	}
}
