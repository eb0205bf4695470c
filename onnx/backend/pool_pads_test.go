package backend

import (
	"slices"
	"strings"
	"testing"
)

// TestPoolPadsUnread: a 2x2 MaxPool whose end pads no window reads
// (Chainer's cover_all writes pads [0, 0, 1, 1]) runs in the fused
// convolution blocks, 3x3 and 5x5, as one without pads; where a window
// reads them (an odd map, pads at the beginning), the pool runs on its
// own. (In ceil mode it does too; ONNX Runtime 1.30 itself disagrees
// there between its shape inference and its kernel.)
// Every graph gives ONNX Runtime's outputs.
func TestPoolPadsUnread(t *testing.T) {
	block := func(k, pad int64, pads []int64, ceil int64) func(b *builder) {
		return func(b *builder) {
			b.node("Conv", []string{"x", b.weight(8, 1, k, k), b.weight(8)}, "c", ints("kernel_shape", k, k), ints("pads", pad, pad, pad, pad))
			b.node("Relu", []string{"c"}, "r")
			b.node("MaxPool", []string{"r"}, "h", ints("kernel_shape", 2, 2), ints("strides", 2, 2), ints("pads", pads...), intAttr("ceil_mode", ceil))
		}
	}
	end := []int64{0, 0, 1, 1}
	cases := []graphCase{
		{name: "fused: 5x5 on 28, 24x24 pooled, pads unread", opset: 13, side: 28, features: 8 * 12 * 12, nodes: block(5, 0, end, 0)},
		{name: "fused: 3x3 on 24, pooled, pads unread", opset: 13, side: 24, features: 8 * 12 * 12, nodes: block(3, 1, end, 0)},
		{name: "alone: 5x5 on 29, 25x25 pooled, the pad read", opset: 13, side: 29, features: 8 * 13 * 13, nodes: block(5, 0, end, 0)},
		{name: "alone: 3x3 on 24, pads at the beginning", opset: 13, side: 24, features: 8 * 12 * 12, nodes: block(3, 1, []int64{1, 1, 0, 0}, 0)},
	}
	matchORT(t, cases, 8, 77, func(t *testing.T, gc graphCase, p *Plan) {
		fused := slices.ContainsFunc(p.Fused, func(chain []string) bool { return slices.Equal(chain, []string{"c", "r", "h"}) })
		if want := strings.HasPrefix(gc.name, "fused"); fused != want {
			t.Errorf("Conv, Relu and MaxPool fused: %v, want %v (%v)", fused, want, p.Fused)
		}
	})
}
