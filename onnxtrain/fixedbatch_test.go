package onnxtrain

import (
	"math/rand/v2"
	"testing"

	"github.com/lenetkit/lenetkit/onnx"
)

// TestFixedBatchReshape: cnn28 exported without a dynamic batch axis, as
// torch writes it from a batch of 10 or of 1 (input [10, 1, 28, 28], its
// Flatten a Reshape to the folded [10, -1]), trains at another batch, step
// for step as the graph of a symbolic batch does.
func TestFixedBatchReshape(t *testing.T) {
	for _, b := range []int64{10, 1} {
		testFixedBatchReshape(t, b)
	}
}

func testFixedBatchReshape(t *testing.T, exported int64) {
	fixed := loadFixture(t, "cnn28.onnx")
	fixed.Graph.Inputs[0].Dims[0] = exported
	fixed.Graph.Initializers["batch_shape"] = &onnx.Tensor{Name: "batch_shape", DType: onnx.Int64, Shape: []int{2}, Int: []int64{exported, -1}}
	flattens := 0
	for _, n := range fixed.Graph.Nodes {
		if n.OpType == "Flatten" {
			n.OpType, n.Attrs, n.Inputs = "Reshape", onnx.Attrs{}, append(n.Inputs, "batch_shape")
			flattens++
		}
	}
	if flattens != 1 {
		t.Fatalf("cnn28 has %d Flattens, want 1", flattens)
	}
	const batch = 4
	rng := rand.New(rand.NewPCG(3, 4))
	x := make([]float32, batch*28*28)
	for i := range x {
		x[i] = rng.Float32()
	}
	labels := []int64{3, 1, 4, 1}
	var losses []float64
	for _, m := range []*onnx.Model{loadFixture(t, "cnn28.onnx"), fixed} {
		net, err := New(m, Options{Batch: batch, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		net.SetTraining(false) // no dropout: the two steps see the same graph
		loss, err := net.Step(x, labels)
		net.Close()
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, loss)
	}
	if losses[0] != losses[1] {
		t.Errorf("exported at batch %d: loss %g with the fixed batch's Reshape, %g with Flatten", exported, losses[1], losses[0])
	}
}
