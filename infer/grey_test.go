package infer

import (
	"math"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/mnist"
	"github.com/lenetkit/lenetkit/onnx/backend"
)

// TestGreyAsColour: a model of 3 input channels trained on grey digits
// (testdata/onnx/cnn28_rgb.onnx, reference/onnx_zoo.py) takes MNIST's
// digits, and images of its size, as 3 equal channels: both give the
// logits of its plan run on the digits cropped, normalised and copied
// into each channel by hand.
func TestGreyAsColour(t *testing.T) {
	const n = 40
	path := testtool.Testdata("onnx/cnn28_rgb.onnx")
	x, _, _ := testImages(t, n)

	// The plan on the tensors torchvision's Grayscale(3) and
	// Normalize(0.5, 0.5) make.
	p, err := backend.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if p.Channels != GreyCopies {
		t.Fatalf("fixture takes %d channels, want %d", p.Channels, GreyCopies)
	}
	const side, plane = mnist.Side - 2*mnist.Pad, (mnist.Side - 2*mnist.Pad) * (mnist.Side - 2*mnist.Pad)
	grey := make([]float32, n*plane) // the digits cropped to 28x28, in [0, 1]
	rgb := make([]float32, n*GreyCopies*plane)
	for i := range n {
		for r := range side {
			for c := range side {
				v := x[i*mnist.PixelCount+(r+mnist.Pad)*mnist.Side+c+mnist.Pad]
				grey[i*plane+r*side+c] = v
				for ch := range GreyCopies {
					rgb[(i*GreyCopies+ch)*plane+r*side+c] = (v - 0.5) / 0.5
				}
			}
		}
	}
	want := make([]float32, n*mnist.Classes)
	if err := p.Logits(want, rgb, n); err != nil {
		t.Fatal(err)
	}

	digits, err := Open(path, "")
	if err != nil {
		t.Fatalf("a colour model of digits: %v", err)
	}
	sized, err := OpenClassifier(path, "", OpenOptions{AnyInput: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*Model{digits, sized} {
		m.Preprocess.Mean, m.Preprocess.Std = 0.5, 0.5
		if m.InputSize() != plane || !strings.Contains(strings.Join(m.Notes, "\n"), "3 equal channels") {
			t.Errorf("InputSize %d, notes %q: want %d floats an image and a note of the 3 channels", m.InputSize(), m.Notes, plane)
		}
	}
	got := map[string][]float32{"Logits": make([]float32, n*mnist.Classes), "InputLogits": make([]float32, n*mnist.Classes)}
	if err := digits.Logits(got["Logits"], x, n); err != nil {
		t.Fatal(err)
	}
	if err := sized.InputLogits(got["InputLogits"], grey, n); err != nil {
		t.Fatal(err)
	}
	for name, g := range got {
		for i := range want {
			if math.Abs(float64(g[i]-want[i])) > 1e-6 {
				t.Fatalf("%s: logit %d is %g, want %g", name, i, g[i], want[i])
			}
		}
	}
}
