package infer

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/fixture"
	"github.com/lenetkit/lenetkit/internal/mnisttest"
	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/mnist"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

// testImages returns the first n MNIST test images and labels.
func testImages(t testing.TB, n int) ([]float32, []int64, *mnist.Set) {
	t.Helper()
	set := mnisttest.Set(t, "test")
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	x := make([]float32, n*mnist.PixelCount)
	y := make([]int64, n)
	if err := set.Fill(idx, x, y); err != nil {
		t.Fatal(err)
	}
	return x, y, set
}

// exportONNX writes lenetkit's ONNX export of a state dict file.
func exportONNX(t testing.TB, pth string, opset int) string {
	t.Helper()
	sd, err := modelfile.Read(pth)
	if err != nil {
		t.Fatal(err)
	}
	m, err := onnx.FromStateDict(sd, onnx.ExportOptions{Opset: opset})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := onnx.Write(path, m); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestBackendsMatchPyTorch: the native backend on the .pth, lenetkit's
// backend and onnx-go's on lenetkit's ONNX export of it give PyTorch's
// logits for the same images, whatever the batch size.
func TestBackendsMatchPyTorch(t *testing.T) {
	fx, err := fixture.Read("forward.pth")
	if err != nil {
		t.Fatal(err)
	}
	want := fx["logits"].F32
	n := len(want) / lenet.Classes
	x, _, _ := testImages(t, n)
	pth := testtool.Testdata("lenet_trained.pth")
	for _, c := range []struct{ path, backend string }{
		{pth, ""}, {exportONNX(t, pth, 13), ""}, {exportONNX(t, pth, 9), Gorgonia}, {exportONNX(t, pth, 17), Native},
	} {
		m, err := Open(c.path, c.backend)
		if err != nil {
			t.Fatal(err)
		}
		batches := []int{1, 5, 128, n}
		if c.backend == Gorgonia {
			// onnx-go's graph machine takes over 10 ms a call: a batch
			// of 5, with its remainder, and one of all n.
			batches = []int{5, n}
		}
		for _, batch := range batches {
			got := make([]float32, n*lenet.Classes)
			for lo := 0; lo < n; lo += batch {
				hi := min(lo+batch, n)
				if err := m.Logits(got[lo*lenet.Classes:hi*lenet.Classes], x[lo*mnist.PixelCount:hi*mnist.PixelCount], hi-lo); err != nil {
					t.Fatalf("%s %s: %v", m.Format, m.Backend, err)
				}
			}
			worst := 0.0
			for i := range want {
				worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
			}
			if worst > 1e-4 {
				t.Errorf("%s via %s, batch %d: logits differ from PyTorch's by %.3g", m.Format, m.Backend, batch, worst)
			}
		}
	}
}

func TestOpenBadModels(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ path, backend, want string }{
		{filepath.Join(dir, "missing.pth"), "", "missing.pth"},
		{filepath.Join(dir, "model.h5"), "", "unknown model format"},
		{testtool.Testdata("forward.pth"), "", "missing keys"},
		{testtool.Testdata("lenet_trained.pth"), Gorgonia, "gorgonia backend runs .onnx files only"},
		{testtool.Testdata("lenet_trained.pth"), "tensorrt", "backend"},
	}
	for _, c := range cases {
		_, err := Open(c.path, c.backend)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("Open(%s, %q) = %v, want one line with %q", filepath.Base(c.path), c.backend, err, c.want)
		}
	}
}
