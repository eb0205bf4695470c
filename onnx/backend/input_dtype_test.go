package backend

import (
	"slices"
	"testing"

	"github.com/lenetkit/lenetkit/onnx"
)

// TestFloatInputTypes: a graph whose image input is declared DOUBLE (a
// tf2onnx export of a float64 Keras model) or FLOAT16 (the model zoo's
// mnist float16), and cast to float32 first, takes the float32 images
// every plan takes and gives the outputs of the same graph declared
// float32: lenetkit computes in float32 whatever the declared type.
func TestFloatInputTypes(t *testing.T) {
	gc := graphCase{name: "cast input", opset: 13, side: 8, features: 4 * 64, nodes: func(b *builder) {
		b.node("Cast", []string{"x"}, "xf", intAttr("to", int64(onnx.TensorProto_FLOAT)))
		conv3(b, "xf", "c", 1, 4)
		b.node("Relu", []string{"c"}, "h")
	}}
	x := randomImages(3, gc.side)
	logits := func(dt onnx.TensorProto_DataType) []float32 {
		m := gc.model(9)
		m.Graph.Input[0].Type.GetTensorType().ElemType = int32(dt)
		b, err := onnx.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		p, err := OpenData(b, dt.String(), Options{})
		if err != nil {
			t.Fatalf("input %s: %v", dt, err)
		}
		y := make([]float32, 30)
		if err := p.Logits(y, x, 3); err != nil {
			t.Fatal(err)
		}
		return y
	}
	want := logits(onnx.TensorProto_FLOAT)
	for _, dt := range []onnx.TensorProto_DataType{onnx.TensorProto_DOUBLE, onnx.TensorProto_FLOAT16} {
		if got := logits(dt); !slices.Equal(got, want) {
			t.Errorf("input %s: %v, float32's %v", dt, got, want)
		}
	}
}
