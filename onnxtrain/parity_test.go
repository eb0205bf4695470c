package onnxtrain_test

import (
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lenetkit/lenetkit/internal/parity"
	"github.com/lenetkit/lenetkit/onnx"
	"github.com/lenetkit/lenetkit/onnxtrain"
	"github.com/lenetkit/lenetkit/train"
)

// TestOneStepMatchesPyTorch takes one training step of each graph of
// testdata/train_parity from the ONNX file's weights on PyTorch's batch,
// and compares the logits, the loss, every gradient, the Adam update and
// BatchNorm's running statistics with what PyTorch computed
// (reference/onnx_train_parity.py): LeNet-5 (Tanh, average pooling, 5x5
// convolutions), the 28x28 two-conv CNN, Keras's NHWC graph and a net with
// a depthwise convolution and BatchNorm.
func TestOneStepMatchesPyTorch(t *testing.T) {
	fixtures, err := parity.LoadAll(filepath.Join("..", "testdata", "train_parity"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fixtures {
		t.Run(f.Name, func(t *testing.T) {
			m, err := onnx.Load(filepath.Join("..", filepath.FromSlash(f.Model)))
			if err != nil {
				t.Fatal(err)
			}
			net, err := onnxtrain.New(m, onnxtrain.Options{Batch: len(f.Labels)})
			if err != nil {
				t.Fatal(err)
			}
			defer net.Close()
			loss, err := net.Step(f.Input.Data, f.Labels)
			if err != nil {
				t.Fatal(err)
			}
			tol := f.ParityTol
			near(t, "loss", []float32{float32(loss)}, []float32{f.Loss}, tol, 1)
			near(t, "logits", net.Logits(), f.Logits.Data, tol, 1)
			var names []string
			var params, grads [][]float32
			for i, p := range net.Params() {
				names = append(names, p.Name)
				params = append(params, p.Data)
				grads = append(grads, net.Grad(i))
				near(t, "gradient of "+p.Name, net.Grad(i), f.Grads[p.Name].Data, tol, 1e-30)
			}
			slices.Sort(names)
			if !slices.Equal(names, f.Params()) {
				t.Fatalf("trained %v, PyTorch %v", names, f.Params())
			}
			o := f.Optimizer
			adam := train.NewAdam(o.WeightDecay)
			adam.Beta2, adam.Eps = o.Betas[1], o.Eps
			adam.Step(params, grads, o.LR, o.Betas[0])
			for _, p := range net.Params() {
				near(t, "Adam's update of "+p.Name, p.Data, f.Updated[p.Name].Data, tol, 1)
			}
			for name, want := range f.Running {
				near(t, "running statistic "+name, m.Graph.Initializers[name].Float, want.Data, tol, 1)
			}
		})
	}
}

// near fails the test at the worst element of got that differs from want
// by more than tol times the largest magnitude in want (at least 1 for
// the logits and the loss, whose scale is 1): the figures of a trained
// network's gradients are small, and an absolute tolerance would pass
// almost any error in them.
func near(t *testing.T, what string, got, want []float32, tol float64, floor float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, PyTorch %d", what, len(got), len(want))
	}
	scale := floor
	for _, w := range want {
		scale = math.Max(scale, math.Abs(float64(w)))
	}
	worst, at := 0.0, -1
	for i := range got {
		d := math.Abs(float64(got[i])-float64(want[i])) / scale
		if d > worst || math.IsNaN(d) {
			worst, at = d, i
		}
	}
	if testing.Verbose() && at >= 0 {
		t.Logf("%s: worst difference %.3g of %.3g", what, worst, scale)
	}
	if worst > tol || at >= 0 && math.IsNaN(worst) {
		t.Errorf("%s: element %d is %g, PyTorch %g (difference %.3g of the largest, %.3g, > %g)", what, at, got[at], want[at], worst, scale, tol)
	}
}
