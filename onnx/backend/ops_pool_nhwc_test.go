package backend

import (
	"testing"

	"github.com/lenetkit/lenetkit/onnx"
)

// dwPool adds a 3x3 convolution of one channel to c and its Relu, a
// depthwise 3x3 convolution "d", then the nodes mid adds after it, the
// MaxPool of attributes pool of the value mid returns, and a 1x1
// convolution to 4 channels: the chain that runs channels-last where the
// pooling does.
func dwPool(c int64, mid func(b *builder) string, pool ...*onnx.AttributeProto) func(b *builder) {
	return func(b *builder) {
		b.node("Conv", []string{"x", b.weight(c, 1, 3, 3), b.weight(c)}, "s", ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1))
		b.node("Relu", []string{"s"}, "sr")
		b.node("Conv", []string{"sr", b.weight(c, 1, 3, 3), b.weight(c)}, "d", intAttr("group", c), ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1))
		b.node("MaxPool", []string{mid(b)}, "p", pool...)
		b.node("Conv", []string{"p", b.weight(4, c, 1, 1), b.weight(4)}, "h", ints("kernel_shape", 1, 1))
	}
}

// TestMaxPoolNHWC runs max pools of channels-last maps through the plan
// and ONNX Runtime: poolNHWCStep takes the 2x2 ones of stride 2 that read
// a Relu's output, and leaves the rest to the planes: maps that may hold
// negative values (no Relu, a Clip from below 0), other windows, padding.
func TestMaxPoolNHWC(t *testing.T) {
	relu := func(b *builder) string { b.node("Relu", []string{"d"}, "r"); return "r" }
	two := []*onnx.AttributeProto{ints("kernel_shape", 2, 2), ints("strides", 2, 2)}
	cases := []graphCase{
		{name: "taken: Relu, 2x2 of an odd map, 16 channels", opset: 13, side: 11, features: 4 * 5 * 5, nodes: dwPool(16, relu, two...)},
		{name: "planes: no Relu", opset: 13, side: 28, features: 4 * 14 * 14, nodes: dwPool(8, func(*builder) string { return "d" }, two...)},
		{name: "planes: a Clip from -1", opset: 13, side: 28, features: 4 * 14 * 14, nodes: dwPool(8, func(b *builder) string {
			b.inits = append(b.inits, scalarInit("lo", -1), scalarInit("hi", 6))
			b.node("Clip", []string{"d", "lo", "hi"}, "r")
			return "r"
		}, two...)},
		{name: "planes: 3x3 windows", opset: 13, side: 27, features: 4 * 9 * 9, nodes: dwPool(8, relu, ints("kernel_shape", 3, 3), ints("strides", 3, 3))},
		{name: "planes: 2x2 of stride 1", opset: 13, side: 12, features: 4 * 11 * 11, nodes: dwPool(8, relu, ints("kernel_shape", 2, 2))},
		{name: "planes: padded", opset: 13, side: 12, features: 4 * 7 * 7, nodes: dwPool(8, relu, ints("kernel_shape", 2, 2), ints("strides", 2, 2), ints("pads", 1, 1, 1, 1))},
	}
	matchORT(t, cases, 16, 700, func(t *testing.T, gc graphCase, p *Plan) {
		if want := gc.name[:5] == "taken"; hasStep[poolNHWCStep](p) != want {
			t.Errorf("channels-last pooling: %v, want %v", hasStep[poolNHWCStep](p), want)
		}
	})
}
