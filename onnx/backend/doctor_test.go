package backend

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

// TestDiagnoseListsEveryBlocker: five files that are refused for several
// reasons each; Diagnose reports all of them at once, where Open stops at
// the first.
func TestDiagnoseListsEveryBlocker(t *testing.T) {
	base := func(opset int64, nodes func(b *builder)) *onnx.ModelProto {
		return graphCase{name: "refused", opset: opset, side: 4, features: 16, nodes: nodes}.model(1)
	}
	subgraph := &onnx.AttributeProto{Name: "then_branch", Type: onnx.AttributeProto_GRAPH, G: &onnx.GraphProto{Name: "then"}}
	cases := []struct {
		name  string
		m     *onnx.ModelProto
		want  []string // kinds, in order
		texts []string // in the messages
	}{
		{"a training export with an operator missing", base(13, func(b *builder) {
			b.node("BatchNormalization", []string{"x", b.weight(1), b.weight(1), b.weight(1), b.positive(1)}, "bn")
			b.nodes[len(b.nodes)-1].Output = []string{"bn", "mean", "var"}
			b.node("Asin", []string{"bn"}, "e")
			b.nodes = append(b.nodes, &onnx.NodeProto{OpType: "Constant", Output: []string{"tm"}, Attribute: []*onnx.AttributeProto{
				{Name: "value", Type: onnx.AttributeProto_TENSOR, T: &onnx.TensorProto{DataType: int32(onnx.TensorProto_BOOL), Int32Data: []int32{1}}}}})
			b.node("Dropout", []string{"e", b.weight(1), "tm"}, "h")
		}), []string{"operator", "training", "training"}, []string{"Asin is not supported (1 node)", "3 outputs", "training_mode true"}},
		{"an old opset with operators of two domains missing", base(6, func(b *builder) {
			b.node("Dropout", []string{"x"}, "d")
			b.node("Asin", []string{"d"}, "e1")
			b.node("Asin", []string{"e1"}, "e2")
			b.node("Gelu", []string{"e2"}, "h")
			b.nodes[len(b.nodes)-1].Domain = "com.microsoft"
		}), []string{"opset", "operator", "operator"}, []string{"at opset 6: Dropout without is_test 1", "Asin is not supported (2 nodes)", "com.microsoft.Gelu"}},
		{"control flow and an input of integers with a symbolic height", func() *onnx.ModelProto {
			m := base(13, func(b *builder) {
				b.nodes = append(b.nodes, &onnx.NodeProto{OpType: "If", Input: []string{"x"}, Output: []string{"h"}, Attribute: []*onnx.AttributeProto{subgraph}})
			})
			in := m.Graph.Input[0].Type.GetTensorType()
			in.ElemType = int32(onnx.TensorProto_INT64)
			in.Shape.Dim[2] = &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimParam{DimParam: "height"}}
			return m
		}(), []string{"operator", "control-flow", "dtype", "dynamic-shape"}, []string{"If", "subgraph", "INT64", `dimension 2 is "height"`}},
		{"external data outside the folder, strings and NaN weights", base(13, func(b *builder) {
			w := b.weight(1)
			b.inits[len(b.inits)-1].FloatData[0] = float32(math.NaN())
			b.node("Mul", []string{"x", w}, "m")
			b.inits = append(b.inits,
				&onnx.TensorProto{Name: "far", Dims: []int64{1}, DataType: int32(onnx.TensorProto_FLOAT), DataLocation: onnx.TensorProto_EXTERNAL,
					ExternalData: []*onnx.StringStringEntryProto{{Key: "location", Value: "../outside.bin"}}},
				&onnx.TensorProto{Name: "words", Dims: []int64{1}, DataType: int32(onnx.TensorProto_STRING), StringData: [][]byte{[]byte("a")}})
			b.node("Add", []string{"m", "far"}, "h")
		}), []string{"external-data", "dtype", "values"}, []string{"outside the model's folder", `"words"`, "NaN"}},
		{"two inputs and recurrent operators", func() *onnx.ModelProto {
			m := base(13, func(b *builder) {
				b.node("LSTM", []string{"x", "state"}, "l")
				b.node("GRU", []string{"l"}, "h")
			})
			m.Graph.Input = append(m.Graph.Input, imageInput("state", 4))
			return m
		}(), []string{"operator", "operator", "input"}, []string{"LSTM", "GRU", "takes 2 inputs"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// A folder of its own, with a file beside it that a model
			// may not reach.
			dir := filepath.Join(t.TempDir(), "model")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "..", "outside.bin"), make([]byte, 4), 0o644); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "refused.onnx")
			writeModel(t, c.m, path)
			if _, err := Open(path); err == nil {
				t.Fatal("Open accepted the file")
			}
			d, err := Diagnose(path, modelfile.ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var kinds, messages []string
			for _, b := range d.Blockers {
				kinds = append(kinds, b.Kind)
				messages = append(messages, b.Message)
			}
			if d.Runs || !slices.Equal(kinds, c.want) {
				t.Fatalf("runs %v, blockers %q:\n%s\nwant %q", d.Runs, kinds, strings.Join(messages, "\n"), c.want)
			}
			for i, text := range c.texts {
				if !strings.Contains(messages[i], text) {
					t.Errorf("blocker %d %q does not say %q", i, messages[i], text)
				}
			}
		})
	}
}

// TestDiagnoseRunning: a file that runs is described, its fused blocks
// named; one that is not ONNX is a format blocker, and a missing one an
// error.
func TestDiagnoseRunning(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "block.onnx")
	writeModel(t, graphCase{name: "block", opset: 13, side: 4, features: 2 * 2 * 2, nodes: func(b *builder) {
		conv3(b, "x", "c", 1, 2)
		b.node("Relu", []string{"c"}, "r")
		b.node("BatchNormalization", []string{"r", b.weight(2), b.weight(2), b.weight(2), b.positive(2)}, "bn")
		b.node("MaxPool", []string{"bn"}, "h", ints("kernel_shape", 2, 2), ints("strides", 2, 2))
	}}.model(3), path)
	d, err := Diagnose(path, modelfile.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !d.Runs || len(d.Blockers) != 0 || d.Input == nil || d.Input.Layout != "NCHW" || d.Input.Height != 4 || len(d.Fused) != 1 || len(d.Fused[0]) != 4 {
		t.Fatalf("diagnosis %+v, input %+v; want a file that runs, NCHW 4x4, one fused chain of 4", d, d.Input)
	}
	junk := filepath.Join(dir, "junk.onnx")
	if err := os.WriteFile(junk, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	if d, err := Diagnose(junk, modelfile.ReadOptions{}); err != nil || d.Runs || len(d.Blockers) != 1 || d.Blockers[0].Kind != "format" {
		t.Errorf("junk: %+v, %v; want one format blocker", d, err)
	}
	if _, err := Diagnose(filepath.Join(dir, "absent.onnx"), modelfile.ReadOptions{}); err == nil {
		t.Error("a missing file gave no error")
	}
}
