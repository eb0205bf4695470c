package backend

import (
	"path/filepath"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/onnx"
)

// TestFlattenedColourInput: a graph that only flattens its channels-last
// colour input (Keras's Flatten(input_shape=(28, 28, 3)) then Dense,
// through tf2onnx) takes images channels-first as every plan does, laid
// out channels-last for it: ONNX Runtime's outputs for the same images
// given [N, 28, 28, 3], each channel different so that the layout shows.
func TestFlattenedColourInput(t *testing.T) {
	const side, ch, n = 28, 3, 6
	gc := graphCase{name: "flatten of [N, 28, 28, 3]", opset: 13, side: side, features: side * side * ch, nodes: func(b *builder) {
		b.node("Flatten", []string{"x"}, "h", intAttr("axis", 1))
	}}
	m := gc.model(5)
	dims := m.Graph.Input[0].Type.GetTensorType().Shape.Dim
	for i, d := range []int64{side, side, ch} {
		dims[i+1].Value = &onnx.TensorShapeProto_Dimension_DimValue{DimValue: d}
	}
	path := filepath.Join(t.TempDir(), "colour.onnx")
	writeModel(t, m, path)
	p, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if p.Channels != ch || p.Height != side || p.Width != side {
		t.Fatalf("the plan takes %dx%dx%d images, want 3x28x28", p.Channels, p.Height, p.Width)
	}
	x := randomImages(n*ch, side) // n images, channels-first
	hwc := make([]float32, len(x))
	for i := range n {
		for c := range ch {
			for k := range side * side {
				hwc[(i*side*side+k)*ch+c] = x[(i*ch+c)*side*side+k]
			}
		}
	}
	got := make([]float32, n*10)
	if err := p.Logits(got, x, n); err != nil {
		t.Fatal(err)
	}
	want := ortOutputs(t, []testtool.ORTJob{{Model: path, N: n, C: side, H: side, W: ch}}, [][]float32{hwc})
	compare(t, "channels-last colour, flattened", got, want[0])
}
