package onnx

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	onnxgo "github.com/owulveryck/onnx-go"
	"github.com/owulveryck/onnx-go/backend/x/gorgonnx"
	"gorgonia.org/tensor"

	"github.com/lenetkit/lenetkit/convert"
	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/lenet"
)

// onnxGoLogits runs model (ONNX bytes) with onnx-go's Gorgonia backend on
// the n images in x. onnx-go panics on some graphs it cannot build; that
// is an error here.
func onnxGoLogits(model []byte, x []float32, n int) (logits []float32, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("onnx-go panicked: %v", r)
		}
	}()
	backend := gorgonnx.NewGraph()
	m := onnxgo.NewModel(backend)
	if err := m.UnmarshalBinary(model); err != nil {
		return nil, err
	}
	in := tensor.New(tensor.WithShape(n, 1, lenet.InputSize, lenet.InputSize), tensor.WithBacking(append([]float32(nil), x...)))
	if err := m.SetInput(0, in); err != nil {
		return nil, err
	}
	if err := backend.Run(); err != nil {
		return nil, err
	}
	out, err := m.GetOutputTensors()
	if err != nil {
		return nil, err
	}
	if len(out) != 1 || fmt.Sprint(out[0].Shape()) != fmt.Sprint(tensor.Shape{n, lenet.Classes}) {
		return nil, fmt.Errorf("outputs %v, want one of shape (%d, %d)", out, n, lenet.Classes)
	}
	v, ok := out[0].Data().([]float32)
	if !ok {
		return nil, fmt.Errorf("output is %T, want []float32", out[0].Data())
	}
	return v, nil
}

// forwardFixture returns the test images and PyTorch's logits for them in
// testdata/forward.pth (reference/make_fixtures.py): images 0..n-1.
func forwardFixture(t *testing.T, n int) (x, logits []float32) {
	t.Helper()
	fx, err := convert.ReadPTH(testtool.Testdata("forward.pth"))
	if err != nil {
		t.Fatal(err)
	}
	l := fx.Lookup("logits")
	if l == nil || len(l.F32) < n*lenet.Classes {
		t.Fatalf("forward.pth: no logits for %d images", n)
	}
	return testImages(t, n), l.F32[:n*lenet.Classes]
}

// TestOnnxGo runs lenetkit's export and torch's exports, after Normalize,
// through onnx-go's Gorgonia backend, as lenetkit infer does, and compares
// the logits with PyTorch's.
func TestOnnxGo(t *testing.T) {
	const n = 64
	x, want := forwardFixture(t, n)
	sd := trainedStateDict(t)

	type model struct {
		name string
		load func(t *testing.T) *ModelProto
	}
	models := []model{}
	for _, opset := range []int{9, 13, 17} {
		models = append(models, model{fmt.Sprint("lenetkit opset ", opset), func(t *testing.T) *ModelProto {
			m, err := FromStateDict(sd, ExportOptions{Opset: opset})
			if err != nil {
				t.Fatal(err)
			}
			return m
		}})
	}
	for _, kind := range torchExportKinds {
		for _, opset := range []int{9, 11, 13, 14, 15, 17} {
			models = append(models, model{fmt.Sprintf("torch %s opset %d", kind.name, opset), func(t *testing.T) *ModelProto {
				m, err := Read(torchExportPath(t, requireTorch(t), kind, opset))
				if err != nil {
					t.Fatal(err)
				}
				return m
			}})
		}
	}
	for _, mc := range models {
		t.Run(mc.name, func(t *testing.T) {
			m := mc.load(t)
			before, err := Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			nm, err := Normalize(m)
			if err != nil {
				t.Fatal(err)
			}
			if after, _ := Marshal(m); string(after) != string(before) {
				t.Error("Normalize changed its argument")
			}
			b, err := Marshal(nm)
			if err != nil {
				t.Fatal(err)
			}
			// gorgonnx computes BatchNormalization one way for a batch of
			// one image and another for larger batches: run both.
			for _, k := range []int{n, 1} {
				got, err := onnxGoLogits(b, x[:k*len(x)/n], k)
				if err != nil {
					t.Fatalf("onnx-go after Normalize, %d images: %v", k, err)
				}
				d := maxDiff(t, got, want[:k*lenet.Classes])
				t.Logf("%d images: max |onnx-go - PyTorch| = %.3g", k, d)
				if d > 1e-4 {
					t.Errorf("%d images: onnx-go's logits differ from PyTorch's by %g, want <= 1e-4", k, d)
				}
			}
			if m.ProducerName == "pytorch" {
				// The pair is removed, not rewritten into opset 12's form,
				// so the model stays valid ONNX.
				for _, node := range nm.Graph.Node {
					if node.OpType == "Unsqueeze" || node.OpType == "Squeeze" || node.OpType == "Constant" {
						t.Errorf("normalized graph still has a %s node", node.OpType)
					}
				}
				path := filepath.Join(t.TempDir(), "normalized.onnx")
				if err := Write(path, nm); err != nil {
					t.Fatal(err)
				}
				if r := onnxCheck(t, path); !r.OK {
					t.Errorf("the checker refuses the normalized model: %s", r.Error)
				}
			}
			// What Normalize is for: torch's exports from opset 13 on do
			// not run in onnx-go as they are.
			if m.ProducerName == "pytorch" && m.OpsetImport[0].Version >= 13 {
				if _, err := onnxGoLogits(before, x, n); err == nil {
					t.Error("the torch export runs in onnx-go without Normalize; is the rewrite still needed?")
				} else {
					t.Logf("without Normalize: %v", err)
				}
			}
		})
	}
}

// TestNormalizeRewrites checks each rewrite on a small graph.
func TestNormalizeRewrites(t *testing.T) {
	i64 := func(name string, v ...int64) *TensorProto { return int64Tensor(name, []int{len(v)}, v) }
	constant := func(out string, v ...int64) *NodeProto {
		return &NodeProto{OpType: "Constant", Output: []string{out}, Attribute: []*AttributeProto{
			{Name: "value", Type: AttributeProto_TENSOR, T: i64("", v...)},
		}}
	}
	node := func(op string, in []string, out string, attrs ...*AttributeProto) *NodeProto {
		return &NodeProto{OpType: op, Input: in, Output: []string{out}, Attribute: attrs}
	}
	graph := func(out string, nodes ...*NodeProto) *ModelProto {
		return &ModelProto{IrVersion: 7, OpsetImport: []*OperatorSetIdProto{{Version: 13}}, Graph: &GraphProto{
			Node:   nodes,
			Input:  []*ValueInfoProto{floatValue("x", "batch", 64)},
			Output: []*ValueInfoProto{floatValue(out, "batch", 64)},
		}}
	}
	// summary lists the nodes as op(inputs)->outputs{attributes}, and the
	// initializers.
	summary := func(m *ModelProto) string {
		var parts []string
		for _, n := range m.Graph.Node {
			var attrs []string
			for _, a := range n.Attribute {
				if a.Type == AttributeProto_INTS {
					attrs = append(attrs, fmt.Sprint(a.Name, a.Ints))
				} else {
					attrs = append(attrs, a.Name)
				}
			}
			parts = append(parts, fmt.Sprintf("%s(%s)->%s{%s}", n.OpType, strings.Join(n.Input, ","), strings.Join(n.Output, ","), strings.Join(attrs, ",")))
		}
		for _, i := range m.Graph.Initializer {
			parts = append(parts, "init "+i.Name)
		}
		return strings.Join(parts, " ")
	}
	boolTensor := func(name string, v byte) *TensorProto {
		return &TensorProto{Name: name, DataType: int32(TensorProto_BOOL), RawData: []byte{v}}
	}

	for _, tc := range []struct {
		name  string
		model *ModelProto
		want  string // summary after Normalize, or the error
	}{
		{"pair feeding a node: removed", graph("y",
			constant("a0", 0), node("Unsqueeze", []string{"x", "a0"}, "u"),
			constant("a1", 0), node("Squeeze", []string{"u", "a1"}, "s"),
			node("Relu", []string{"s"}, "y")),
			"Relu(x)->y{}"},
		{"pair at the graph output: one Identity", graph("s",
			node("Unsqueeze", []string{"x"}, "u", attrInts("axes", 1)),
			node("Squeeze", []string{"u"}, "s", attrInts("axes", 1))),
			"Identity(x)->s{}"},
		{"pair with initializer axes", func() *ModelProto {
			m := graph("y",
				node("Unsqueeze", []string{"x", "ax"}, "u"),
				node("Squeeze", []string{"u", "ax"}, "s"),
				node("Relu", []string{"s"}, "y"))
			m.Graph.Initializer = []*TensorProto{i64("ax", -1)}
			return m
		}(), "Relu(x)->y{}"},
		{"different axes: kept, axes as attributes", graph("s",
			constant("a0", 0), node("Unsqueeze", []string{"x", "a0"}, "u"),
			constant("a1", 1), node("Squeeze", []string{"u", "a1"}, "s")),
			"Unsqueeze(x)->u{axes[0]} Squeeze(u)->s{axes[1]}"},
		{"Unsqueeze used twice: kept", graph("y",
			constant("a0", 0), node("Unsqueeze", []string{"x", "a0"}, "u"),
			node("Squeeze", []string{"u", "a0"}, "s"),
			node("Add", []string{"s", "u"}, "y")),
			"Unsqueeze(x)->u{axes[0]} Squeeze(u)->s{axes[0]} Add(s,u)->y{}"},
		{"Squeeze without axes: kept", graph("s",
			node("Unsqueeze", []string{"x"}, "u", attrInts("axes", 0)),
			node("Squeeze", []string{"u"}, "s")),
			"Unsqueeze(x)->u{axes[0]} Squeeze(u)->s{}"},
		{"computed axes", graph("s",
			node("Shape", []string{"x"}, "shape"),
			node("Unsqueeze", []string{"x", "shape"}, "s")),
			`Unsqueeze axes "shape" are computed, not a constant`},
		{"Dropout with inputs: Identity", func() *ModelProto {
			m := graph("y", &NodeProto{OpType: "Dropout", Input: []string{"x", "ratio", "training"}, Output: []string{"y", "mask"}})
			m.Graph.Initializer = []*TensorProto{floatTensor("ratio", nil, []float32{0.3}), boolTensor("training", 0)}
			return m
		}(), "Identity(x)->y{}"},
		{"Dropout training", func() *ModelProto {
			m := graph("y", &NodeProto{OpType: "Dropout", Input: []string{"x", "ratio", "training"}, Output: []string{"y"}})
			m.Graph.Initializer = []*TensorProto{floatTensor("ratio", nil, []float32{0.3}), boolTensor("training", 1)}
			return m
		}(), "training_mode is not a constant false"},
		{"Dropout without inputs: kept", graph("y", node("Dropout", []string{"x"}, "y")), "Dropout(x)->y{}"},
		{"MaxPool dilations of ones: dropped", graph("y",
			node("MaxPool", []string{"x"}, "y", attrInts("kernel_shape", 2, 2), attrInts("dilations", 1, 1))),
			"MaxPool(x)->y{kernel_shape[2 2]}"},
		{"MaxPool dilations of twos: kept", graph("y",
			node("MaxPool", []string{"x"}, "y", attrInts("kernel_shape", 2, 2), attrInts("dilations", 2, 2))),
			"MaxPool(x)->y{kernel_shape[2 2],dilations[2 2]}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := summary(tc.model)
			nm, err := Normalize(tc.model)
			got := ""
			if err != nil {
				got = err.Error()
				if !strings.HasPrefix(got, "onnx: normalize: ") {
					t.Errorf("error %q lacks the package prefix", got)
				}
				if !strings.Contains(got, tc.want) {
					t.Errorf("error %q, want %q", got, tc.want)
				}
			} else if got = summary(nm); got != tc.want {
				t.Errorf("after Normalize:\n  %s\nwant\n  %s", got, tc.want)
			}
			if after := summary(tc.model); after != before {
				t.Errorf("Normalize changed its argument:\n  %s\nwas\n  %s", after, before)
			}
		})
	}
}
