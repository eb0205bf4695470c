package backend

import (
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/internal/winograd"
)

// direct3x3Cases are 3x3 convolutions of stride 1 and padding 1 that no
// fused block takes (ops_conv3.go), and the layouts around them: a
// ResNet's block, whose shortcut Add reads two channels-last maps; a
// VGG's first convolution of two, the second a block; a map no tile
// divides; and channels-last maps meeting channels-first ones.
var direct3x3Cases = []graphCase{
	{name: "ResNet: a stem of 1 to 16 and Relu, a basic block (3x3, Relu, 3x3, Add, Relu)", opset: 13, side: 12, features: 16 * 12 * 12, nodes: func(b *builder) {
		conv3(b, "x", "s", 1, 16)
		b.node("Relu", []string{"s"}, "r0")
		conv3(b, "r0", "c1", 16, 16)
		b.node("Relu", []string{"c1"}, "r1")
		conv3(b, "r1", "c2", 16, 16)
		b.node("Add", []string{"r0", "c2"}, "a")
		b.node("Relu", []string{"a"}, "h")
	}},
	{name: "VGG: 3x3 and Relu, then a block (3x3, Relu, MaxPool 2x2) by Winograd", opset: 13, side: 16, features: 8 * 8 * 8, nodes: func(b *builder) {
		conv3(b, "x", "c1", 1, 8)
		b.node("Relu", []string{"c1"}, "r1")
		conv3(b, "r1", "c2", 8, 8)
		b.node("Relu", []string{"c2"}, "r2")
		b.node("MaxPool", []string{"r2"}, "h", ints("kernel_shape", 2, 2), ints("strides", 2, 2))
	}},
	{name: "a map 13 wide, which no tile divides: 1 to 8 not direct, 8 to 8 by Winograd", opset: 13, side: 13, features: 8 * 13 * 13, nodes: func(b *builder) {
		conv3(b, "x", "c1", 1, 8)
		b.node("Relu", []string{"c1"}, "r1")
		conv3(b, "r1", "h", 8, 8)
	}},
	{name: "a channels-last map minus a channels-first one, each way, and a Relu read twice", opset: 13, side: 12, features: 2 * 8 * 12 * 12, nodes: func(b *builder) {
		conv3(b, "x", "d", 1, 8) // direct: channels-last
		b.node("Conv", []string{"x", b.weight(8, 1, 5, 5), b.weight(8)}, "s", ints("kernel_shape", 5, 5), ints("pads", 2, 2, 2, 2))
		b.node("Relu", []string{"s"}, "r")
		b.node("Sub", []string{"r", "d"}, "m1")
		b.node("Sub", []string{"d", "r"}, "m2")
		b.node("Concat", []string{"m1", "m2"}, "h", intAttr("axis", 1))
	}},
	{name: "a 3x3 of 8 to 16 without Relu into GlobalAveragePool", opset: 13, side: 8, features: 16, nodes: func(b *builder) {
		conv3(b, "x", "c0", 1, 8)
		b.node("Relu", []string{"c0"}, "r0")
		conv3(b, "r0", "c1", 8, 16)
		b.node("GlobalAveragePool", []string{"c1"}, "h")
	}},
}

// TestDirect3x3MatchesORT runs the cases through the plan and ONNX
// Runtime, a batch and one image alone (rows split between the CPUs);
// where this CPU runs the kernels' shapes in assembly, the convolutions
// that no block takes run direct, or by Winograd's transforms between 8
// channels or more, and a ResNet's shortcut Add and its Relu run in the
// second convolution of its block.
func TestDirect3x3MatchesORT(t *testing.T) {
	type steps struct{ direct, winograd, binary int }
	want := map[string]steps{direct3x3Cases[0].name: {1, 2, 0}, direct3x3Cases[1].name: {1, 1, 0},
		direct3x3Cases[2].name: {0, 1, 0}, direct3x3Cases[3].name: {1, 0, 2}, direct3x3Cases[4].name: {1, 1, 0}}
	asm := kernel.Conv3x3{H: 12, W: 12, In: 1, Out: 8}.Vectorized() && winograd.Conv{H: 12, W: 12, In: 16, Out: 16}.Kernel() != "go" &&
		winograd.Conv{H: 8, W: 8, In: 8, Out: 16}.Kernel() != "go"
	matchORT(t, direct3x3Cases, 16, 300, func(t *testing.T, gc graphCase, p *Plan) {
		var got steps
		for _, s := range p.steps {
			switch s := s.(type) {
			case direct3x3Step:
				if s.stride == 1 {
					got.direct++
				}
			case winogradStep:
				got.winograd++
			case binaryStep:
				got.binary++
			}
		}
		if asm && got != want[gc.name] {
			t.Errorf("direct 3x3, Winograd and elementwise steps %+v, want %+v", got, want[gc.name])
		}
	})
}

// TestWinogradValid runs 3x3 convolutions of stride 1 without padding
// (Keras's "valid") between 8 channels or more through the plan and ONNX
// Runtime: they take Winograd's transforms on the map two pixels smaller,
// their input whole where the padding would be, a Relu fused or not, and a
// 2x2 MaxPool after one that drops an odd row and column.
func TestWinogradValid(t *testing.T) {
	first := func(b *builder) {
		b.node("Conv", []string{"x", b.weight(8, 1, 3, 3), b.weight(8)}, "c0", ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1))
		b.node("Relu", []string{"c0"}, "r0")
	}
	valid := func(b *builder, in, out string, c, k int64) {
		b.node("Conv", []string{in, b.weight(k, c, 3, 3), b.weight(k)}, out, ints("kernel_shape", 3, 3))
	}
	cases := []graphCase{
		{name: "13x13 to 11x11, Relu, MaxPool 2x2 to 5x5", opset: 13, side: 13, features: 16 * 5 * 5, nodes: func(b *builder) {
			first(b)
			valid(b, "r0", "c1", 8, 16)
			b.node("Relu", []string{"c1"}, "r1")
			b.node("MaxPool", []string{"r1"}, "h", ints("kernel_shape", 2, 2), ints("strides", 2, 2))
		}},
		{name: "14x14 to 12x12, tiles exactly, no Relu", opset: 13, side: 14, features: 8 * 12 * 12, nodes: func(b *builder) {
			first(b)
			valid(b, "r0", "h", 8, 8)
		}},
		{name: "two in a row, 16 to 24 channels, 9x9 to 5x5", opset: 13, side: 9, features: 24 * 5 * 5, nodes: func(b *builder) {
			b.node("Conv", []string{"x", b.weight(16, 1, 3, 3), b.weight(16)}, "c0", ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1))
			valid(b, "c0", "c1", 16, 16)
			b.node("Relu", []string{"c1"}, "r1")
			valid(b, "r1", "h", 16, 24)
		}},
	}
	matchORT(t, cases, 16, 900, func(t *testing.T, gc graphCase, p *Plan) {
		valid := 0
		for _, s := range p.steps {
			if w, ok := s.(winogradStep); ok && w.valid {
				valid++
			}
		}
		want := 1
		if strings.HasPrefix(gc.name, "two") {
			want = 2
		}
		// Where this CPU has no Winograd kernel the shifted panels take
		// them, as any other convolution.
		if (winograd.Conv{H: 8, W: 8, In: 8, Out: 8}).Kernel() == "go" {
			want = 0
		}
		if valid != want {
			t.Errorf("%d unpadded convolutions by Winograd's transforms, want %d", valid, want)
		}
	})
}
