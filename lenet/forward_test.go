package lenet_test

import (
	"context"
	"testing"

	"github.com/lenetkit/lenetkit/internal/fixture"
	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/mnist"
	"github.com/lenetkit/lenetkit/modelfile"
)

// TestForwardMatchesPyTorch runs a PyTorch-trained state dict on the first
// 256 MNIST test images and compares with the logits PyTorch computed in
// eval mode (reference/make_fixtures.py).
func TestForwardMatchesPyTorch(t *testing.T) {
	trained, err := fixture.Read("lenet_trained.pth")
	if err != nil {
		t.Fatal(err)
	}
	sd, err := trained.StateDict("")
	if err != nil {
		t.Fatal(err)
	}
	want, err := fixture.Read("forward.pth")
	if err != nil {
		t.Fatal(err)
	}
	src, err := mnist.Locate(context.Background(), "")
	if err != nil {
		testtool.Missing(t, "MNIST not available: "+err.Error())
	}
	test, err := mnist.Load(src.Dir, "test", mnist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 256
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	x := make([]float32, n*mnist.PixelCount)
	y := make([]int64, n)
	if err := test.Fill(idx, x, y); err != nil {
		t.Fatal(err)
	}
	sums := want["input_sum"].F32
	for i := 0; i < n; i++ {
		var s float32
		for _, v := range x[i*mnist.PixelCount : (i+1)*mnist.PixelCount] {
			s += v
		}
		if d := s - sums[i]; d > 1e-3 || d < -1e-3 {
			t.Fatalf("image %d: pixel sum %g, PyTorch's input %g: preprocessing differs", i, s, sums[i])
		}
		if y[i] != want["labels"].I64[i] {
			t.Fatalf("image %d: label %d, PyTorch's %d", i, y[i], want["labels"].I64[i])
		}
	}
	m, err := lenet.NewModel(sd)
	if err != nil {
		t.Fatal(err)
	}
	// Uneven batch sizes exercise the chunking across workers.
	for _, batch := range []int{1, 7, 128, 256} {
		logits := make([]float32, n*lenet.Classes)
		for lo := 0; lo < n; lo += batch {
			hi := min(lo+batch, n)
			if err := m.Logits(logits[lo*lenet.Classes:hi*lenet.Classes], x[lo*mnist.PixelCount:hi*mnist.PixelCount], hi-lo); err != nil {
				t.Fatal(err)
			}
		}
		ref := want["logits"].F32
		for i := range ref {
			d := float64(logits[i] - ref[i])
			if d > 1e-4*(1+abs(float64(ref[i]))) || -d > 1e-4*(1+abs(float64(ref[i]))) {
				t.Fatalf("batch %d: logit %d (image %d) = %g, PyTorch %g", batch, i, i/lenet.Classes, logits[i], ref[i])
			}
		}
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

// TestLogitsWhateverTheBatch: an image's logits are the same bits in any
// batch, alone, split between the CPUs, or among others in chunks of any
// size, so that a set scored once (mnist.Score) gives both protocols'
// figures.
func TestLogitsWhateverTheBatch(t *testing.T) {
	sd, err := modelfile.Read(testtool.Testdata("lenet_trained.pth"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := lenet.NewModel(sd)
	if err != nil {
		t.Fatal(err)
	}
	testtool.SameLogitsWhateverTheBatch(t, m.Logits, lenet.InputSize*lenet.InputSize, lenet.Classes)
}
