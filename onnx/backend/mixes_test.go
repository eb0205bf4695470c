package backend

import (
	"testing"

	"github.com/lenetkit/lenetkit/onnx"
)

// TestPerImageVectorOperand: a run-time vector of one image's own, of a
// lower rank than the value it multiplies ([16] against [1, 16]: a
// dynamically quantized layer's scale times its per-column weight scales,
// as quantize_dynamic(per_channel=True) writes it) broadcasts along the
// trailing axis and runs, as ONNX Runtime runs it one image at a time;
// a run-time operand whose first axis holds more than one image is still
// refused.
func TestPerImageVectorOperand(t *testing.T) {
	cases := []graphCase{{name: "scale [16] times sums [1, 16]", opset: 13, side: 8, features: 16, batch: 1, nodes: func(b *builder) {
		b.node("Flatten", []string{"x"}, "f", intAttr("axis", 1))
		b.node("Gemm", []string{"f", b.weight(16, 64)}, "g", intAttr("transB", 1))
		b.nodes = append(b.nodes, &onnx.NodeProto{OpType: "DynamicQuantizeLinear", Input: []string{"f"}, Output: []string{"q", "s", "z"}})
		b.node("Mul", []string{"s", b.positive(16)}, "v")
		b.node("Mul", []string{"g", "v"}, "h")
	}}}
	matchORT(t, cases, 6, 3, nil)

}
