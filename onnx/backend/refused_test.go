package backend

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

// TestDiagnoseWhatORTRefuses: doctor names what makes ONNX Runtime refuse
// a file that lenetkit runs (a declared shape the nodes do not compute,
// an attribute its operator lacks at the file's opset, an input of
// another type than the weights it meets), each case checked
// against ONNX Runtime's own refusal, and names nothing for the same
// graphs written right, which ONNX Runtime loads.
func TestDiagnoseWhatORTRefuses(t *testing.T) {
	declared := func(name string, dims ...int64) *onnx.ValueInfoProto {
		v := imageInput(name, 0)
		shape := v.Type.GetTensorType().Shape
		shape.Dim = shape.Dim[:1]
		for _, d := range dims {
			shape.Dim = append(shape.Dim, &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: d}})
		}
		return v
	}
	cases := []struct {
		name  string
		opset int64
		bad   bool
		nodes func(b *builder)
		info  []*onnx.ValueInfoProto
		want  string
		input onnx.TensorProto_DataType // the image input's, FLOAT when 0
	}{
		{"a stale declared shape", 13, true, func(b *builder) { conv3(b, "x", "h", 1, 4) },
			[]*onnx.ValueInfoProto{declared("h", 8, 6, 6)}, `value "h" is declared [batch, 8, 6, 6]; its nodes compute [1 4 6 6]`, 0},
		{"the declared shape", 13, false, func(b *builder) { conv3(b, "x", "h", 1, 4) },
			[]*onnx.ValueInfoProto{declared("h", 4, 6, 6)}, "", 0},
		{"Squeeze's axes attribute at opset 13", 13, true, func(b *builder) {
			conv3(b, "x", "c", 1, 4)
			b.node("Unsqueeze", []string{"c", b.ints(4)}, "u")
			b.node("Squeeze", []string{"u"}, "h", ints("axes", 4))
		}, nil, "attribute axes is gone from Squeeze at opset 13 (an input or removed since opset 13)", 0},
		{"Squeeze's axes attribute at opset 12", 12, false, func(b *builder) {
			conv3(b, "x", "c", 1, 4)
			b.node("Unsqueeze", []string{"c"}, "u", ints("axes", 4))
			b.node("Squeeze", []string{"u"}, "h", ints("axes", 4))
		}, nil, "", 0},
		{"a DOUBLE input flattened into FLOAT weights", 13, true, func(b *builder) { b.node("Identity", []string{"x"}, "h") },
			nil, `input "x" is declared DOUBLE, and node 2 (Gemm) combines it with FLOAT weights`, onnx.TensorProto_DOUBLE},
	}
	dir := t.TempDir()
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gc := graphCase{opset: c.opset, side: 6, features: 4 * 36, nodes: c.nodes}
			if c.input != 0 {
				gc.features = 36
			}
			m := gc.model(uint64(i))
			m.Graph.ValueInfo = c.info
			if c.input != 0 {
				m.Graph.Input[0].Type.GetTensorType().ElemType = int32(c.input)
			}
			path := filepath.Join(dir, fmt.Sprintf("m%d.onnx", i))
			writeModel(t, m, path)
			d, err := Diagnose(path, modelfile.ReadOptions{})
			if err != nil || !d.Runs {
				t.Fatalf("%v, %+v", err, d)
			}
			if got := strings.Join(d.Refused, "\n"); c.bad != (got != "") || !strings.Contains(got, c.want) {
				t.Errorf("doctor says ONNX Runtime refuses it for %q, want %q", got, c.want)
			}
			if refusal := testtool.ORTRefusal(t, path); c.bad != (refusal != "") {
				t.Errorf("ONNX Runtime refuses it: %q; doctor says %q", refusal, d.Refused)
			}
		})
	}
}
