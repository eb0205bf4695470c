package backend

import (
	"testing"

	"github.com/lenetkit/lenetkit/internal/kernel"
)

// conv3s2 is Conv 3x3 stride 2 pad 1 from c to k channels, with a bias
// unless noBias.
func conv3s2(b *builder, in, out string, c, k int64, noBias bool) {
	inputs := []string{in, b.weight(k, c, 3, 3)}
	if !noBias {
		inputs = append(inputs, b.weight(k))
	}
	b.node("Conv", inputs, out, ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1), ints("strides", 2, 2))
}

// direct3x3s2Cases are 3x3 convolutions of stride 2 and padding 1
// (ops_conv3.go) and what reads them: a ResNet's first block of a stage,
// whose shortcut is a strided 1x1; an odd map to 7x7 without a bias; a
// Relu that does not alone read the convolution; and an output 6 wide,
// which no tile divides.
var direct3x3s2Cases = []graphCase{
	{name: "ResNet: a stem of 1 to 16 and Relu, a block halving the map (3x3/2, Relu, 3x3, 1x1/2 shortcut, Add, Relu)", opset: 13, side: 16, features: 32 * 8 * 8, nodes: func(b *builder) {
		conv3(b, "x", "s", 1, 16)
		b.node("Relu", []string{"s"}, "r0")
		conv3s2(b, "r0", "c1", 16, 32, false)
		b.node("Relu", []string{"c1"}, "r1")
		conv3(b, "r1", "c2", 32, 32)
		b.node("Conv", []string{"r0", b.weight(32, 16, 1, 1), b.weight(32)}, "sc", ints("kernel_shape", 1, 1), ints("strides", 2, 2))
		b.node("Add", []string{"sc", "c2"}, "a")
		b.node("Relu", []string{"a"}, "h")
	}},
	{name: "a map 13 wide to 7x7, 8 to 16 without a bias, into GlobalAveragePool", opset: 13, side: 13, features: 16, nodes: func(b *builder) {
		conv3(b, "x", "c0", 1, 8)
		b.node("Relu", []string{"c0"}, "r0")
		conv3s2(b, "r0", "c1", 8, 16, true)
		b.node("GlobalAveragePool", []string{"c1"}, "h")
	}},
	{name: "28x28 to 14x14, 16 to 32, its output read by a Relu and an Add", opset: 13, side: 28, features: 32 * 14 * 14, nodes: func(b *builder) {
		conv3(b, "x", "c0", 1, 16)
		b.node("Relu", []string{"c0"}, "r0")
		conv3s2(b, "r0", "c1", 16, 32, false)
		b.node("Relu", []string{"c1"}, "r1")
		b.node("Add", []string{"r1", "c1"}, "h")
	}},
	{name: "an output 6 wide, which no tile divides: not direct", opset: 13, side: 12, features: 8 * 6 * 6, nodes: func(b *builder) {
		conv3(b, "x", "c0", 1, 8)
		b.node("Relu", []string{"c0"}, "r0")
		conv3s2(b, "r0", "h", 8, 8, false)
	}},
}

// TestDirect3x3s2MatchesORT runs the cases through the plan and ONNX
// Runtime, a batch and one image alone (rows split between the CPUs);
// where this CPU runs the kernels' shapes in assembly, the strided
// convolutions run direct.
func TestDirect3x3s2MatchesORT(t *testing.T) {
	direct := map[string]int{direct3x3s2Cases[0].name: 1, direct3x3s2Cases[1].name: 1, direct3x3s2Cases[2].name: 1}
	asm := kernel.Conv3x3S2{H: 16, W: 16, In: 16, Out: 32}.Vectorized() && kernel.Conv3x3S2{H: 13, W: 13, In: 8, Out: 16}.Vectorized() &&
		kernel.Conv3x3S2{H: 28, W: 28, In: 16, Out: 32}.Vectorized()
	matchORT(t, direct3x3s2Cases, 16, 400, func(t *testing.T, gc graphCase, p *Plan) {
		got := 0
		for _, s := range p.steps {
			if d, ok := s.(direct3x3Step); ok && d.stride == 2 {
				got++
			}
		}
		if want := direct[gc.name]; asm && got != want {
			t.Errorf("%d direct 3x3 stride-2 steps, want %d", got, want)
		}
	})
}
