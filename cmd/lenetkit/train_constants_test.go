package main

import (
	"path/filepath"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/onnx"
)

// TestTrainConstantWeights: a graph whose weights are Constant nodes, as
// paddle2onnx writes them (cnn28.onnx rewritten so), is fine-tuned as one
// of initializers, and the graph written holds them as initializers, new.
func TestTrainConstantWeights(t *testing.T) {
	t.Parallel()
	testtool.SkipShort(t)
	pm, err := onnx.Read(testtool.Testdata("onnx/cnn28.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	var consts []*onnx.NodeProto
	for _, init := range pm.Graph.Initializer {
		if init.DataType != int32(onnx.TensorProto_FLOAT) {
			continue
		}
		consts = append(consts, &onnx.NodeProto{OpType: "Constant", Name: init.Name, Output: []string{init.Name},
			Attribute: []*onnx.AttributeProto{{Name: "value", Type: onnx.AttributeProto_TENSOR, T: init}}})
	}
	kept := pm.Graph.Initializer[:0]
	for _, init := range pm.Graph.Initializer {
		if init.DataType != int32(onnx.TensorProto_FLOAT) {
			kept = append(kept, init)
		}
	}
	pm.Graph.Initializer, pm.Graph.Node = kept, append(consts, pm.Graph.Node...)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "paddle.onnx"), filepath.Join(dir, "tuned.onnx")
	if err := onnx.Write(in, pm); err != nil {
		t.Fatal(err)
	}
	r := run(t, "train", "--model", in, "--epochs", "1", "--limit", "256", "--mean", "0.5", "--std", "0.5", "--out", out, "-q")
	if r.code != 0 {
		t.Fatalf("train: exit %d: %s", r.code, r.stderr)
	}
	before, err := onnx.Load(in)
	if err != nil {
		t.Fatal(err)
	}
	after, err := onnx.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	changed := 0
	for _, n := range before.Graph.Nodes {
		if n.OpType != "Constant" {
			continue
		}
		old, _ := n.Attrs.ConstantValue()
		w := after.Graph.Initializers[n.Outputs[0]]
		if w == nil || len(w.Float) != len(old.Float) {
			t.Fatalf("%s: not an initializer of %d values in the graph written", n.Outputs[0], len(old.Float))
		}
		for i := range w.Float {
			if w.Float[i] != old.Float[i] {
				changed++
				break
			}
		}
	}
	if changed == 0 || len(consts) < 4 {
		t.Errorf("%d of %d weights changed by training", changed, len(consts))
	}
}
