package backend

import (
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/lenetkit/lenetkit/onnx"
)

// TestOneChannelLast: a Keras MLP's input, [N, 28, 28, 1] flattened as it
// is, with no Transpose: one channel last is the bytes of the [1, H, W]
// image callers give, and the plan reads it so, giving the logits of the
// same network declared [N, 1, H, W].
func TestOneChannelLast(t *testing.T) {
	const side = 6
	build := func(dims []int64) string {
		b := &builder{rng: rand.New(rand.NewPCG(9, 7))}
		w, bias := b.weight(10, side*side), b.weight(10)
		b.node("Flatten", []string{"x"}, "flat", intAttr("axis", 1))
		b.node("Gemm", []string{"flat", w, bias}, "y", intAttr("transB", 1))
		in := imageInput("x", side)
		shape := in.Type.GetTensorType().Shape
		for i, d := range dims {
			shape.Dim[i+1].Value = &onnx.TensorShapeProto_Dimension_DimValue{DimValue: d}
		}
		m := &onnx.ModelProto{IrVersion: 7, OpsetImport: []*onnx.OperatorSetIdProto{{Version: 13}},
			Graph: &onnx.GraphProto{Node: b.nodes, Initializer: b.inits, Input: []*onnx.ValueInfoProto{in},
				Output: []*onnx.ValueInfoProto{{Name: "y"}}}}
		path := filepath.Join(t.TempDir(), "g.onnx")
		writeModel(t, m, path)
		return path
	}
	x := randomImages(3, side)
	var logits [2][]float32
	for i, dims := range [][]int64{{1, side, side}, {side, side, 1}} {
		p, err := Open(build(dims))
		if err != nil {
			t.Fatalf("%v: %v", dims, err)
		}
		if p.Channels != 1 || p.Height != side || p.Width != side {
			t.Fatalf("%v: read as %dx%dx%d", dims, p.Channels, p.Height, p.Width)
		}
		logits[i] = make([]float32, 3*10)
		if err := p.Logits(logits[i], x, 3); err != nil {
			t.Fatal(err)
		}
	}
	compare(t, "one channel last against first", logits[1], logits[0])
}
