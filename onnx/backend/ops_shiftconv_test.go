package backend

import (
	"slices"
	"testing"

	"github.com/lenetkit/lenetkit/internal/nchw"
	"github.com/lenetkit/lenetkit/onnx"
)

// shiftConvCases are the convolutions of stride 1 that run on shifted
// tiles (ops_shiftconv.go), with and without the Relu and MaxPool after
// them fused in.
var shiftConvCases = []graphCase{
	{name: "CNTK's mnist-8: 5x5 same, Relu, MaxPool 2x2, 5x5, Relu, MaxPool 3x3/3 of 14 (floor)", opset: 8, side: 28, features: 16 * 4 * 4, nodes: func(b *builder) {
		b.node("Conv", []string{"x", b.weight(8, 1, 5, 5), b.weight(8)}, "c1", ints("kernel_shape", 5, 5), ints("pads", 2, 2, 2, 2))
		b.node("Relu", []string{"c1"}, "r1")
		b.node("MaxPool", []string{"r1"}, "p1", ints("kernel_shape", 2, 2), ints("strides", 2, 2))
		b.node("Conv", []string{"p1", b.weight(16, 8, 5, 5)}, "c2", ints("kernel_shape", 5, 5), ints("pads", 2, 2, 2, 2))
		b.node("Relu", []string{"c2"}, "r2")
		b.node("MaxPool", []string{"r2"}, "h", ints("kernel_shape", 3, 3), ints("strides", 3, 3))
	}},
	{name: "5x5 valid, Relu, MaxPool 2x2 in ceil mode on a map it divides", opset: 13, side: 28, features: 6 * 12 * 12, nodes: func(b *builder) {
		b.node("Conv", []string{"x", b.weight(6, 1, 5, 5), b.weight(6)}, "c", ints("kernel_shape", 5, 5))
		b.node("Relu", []string{"c"}, "r")
		b.node("MaxPool", []string{"r"}, "h", ints("kernel_shape", 2, 2), ints("strides", 2, 2), intAttr("ceil_mode", 1))
	}},
	{name: "4x2 asymmetric pads, its Relu read twice: the MaxPool not fused", opset: 13, side: 9, features: 5 * 8 * 9, nodes: func(b *builder) {
		b.node("Conv", []string{"x", b.weight(5, 1, 4, 2), b.weight(5)}, "c", ints("kernel_shape", 4, 2), ints("pads", 1, 1, 1, 0))
		b.node("Relu", []string{"c"}, "r")
		b.node("MaxPool", []string{"r"}, "p", ints("kernel_shape", 1, 1), ints("strides", 1, 1))
		b.node("Add", []string{"p", "r"}, "h")
	}},
	{name: "3x3 same, Relu, MaxPool 2x2 in ceil mode on an odd map: the MaxPool not fused", opset: 13, side: 7, features: 3 * 4 * 4, nodes: func(b *builder) {
		conv3(b, "x", "c", 1, 3)
		b.node("Relu", []string{"c"}, "r")
		b.node("MaxPool", []string{"r"}, "h", ints("kernel_shape", 2, 2), ints("strides", 2, 2), intAttr("ceil_mode", 1))
	}},
	{name: "5x5 SAME_UPPER, 3 channels of 19 out, MaxPool 3x3/3 of 12 after a Relu, fused", opset: 13, side: 12, features: 19 * 4 * 4, nodes: func(b *builder) {
		conv3(b, "x", "c0", 1, 3)
		b.node("Conv", []string{"c0", b.weight(19, 3, 5, 5), b.weight(19)}, "c", ints("kernel_shape", 5, 5), strAttr("auto_pad", "SAME_UPPER"))
		b.node("Relu", []string{"c"}, "r")
		b.node("MaxPool", []string{"r"}, "h", ints("kernel_shape", 3, 3), ints("strides", 3, 3))
	}},
	{name: "LeNet-5: 5x5 valid, Tanh, Pad of nothing (a Constant), AveragePool 2x2, twice", opset: 13, side: 32, features: 16 * 5 * 5, nodes: func(b *builder) {
		b.node("Conv", []string{"x", b.weight(6, 1, 5, 5), b.weight(6)}, "c1", ints("kernel_shape", 5, 5))
		b.node("Tanh", []string{"c1"}, "t1")
		zeroPads(b, "z1")
		b.node("Pad", []string{"t1", "z1"}, "q1")
		b.node("AveragePool", []string{"q1"}, "p1", ints("kernel_shape", 2, 2), ints("strides", 2, 2))
		b.node("Conv", []string{"p1", b.weight(16, 6, 5, 5), b.weight(16)}, "c2", ints("kernel_shape", 5, 5))
		b.node("Tanh", []string{"c2"}, "t2")
		zeroPads(b, "z2")
		b.node("Pad", []string{"t2", "z2"}, "q2")
		b.node("AveragePool", []string{"q2"}, "h", ints("kernel_shape", 2, 2), ints("strides", 2, 2))
	}},
	{name: "3x3 same, Relu, Pad of nothing (opset 9's attribute), AveragePool 3x3/3 of 13 (floor)", opset: 9, side: 13, features: 7 * 4 * 4, nodes: func(b *builder) {
		b.node("Conv", []string{"x", b.weight(7, 1, 3, 3), b.weight(7)}, "c", ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1))
		b.node("Relu", []string{"c"}, "r")
		b.node("Pad", []string{"r"}, "q", ints("pads", 0, 0, 0, 0, 0, 0, 0, 0))
		b.node("AveragePool", []string{"q"}, "h", ints("kernel_shape", 3, 3), ints("strides", 3, 3))
	}},
	{name: "5x5 valid, AveragePool 2x2 without an activation, then 3x3 valid and Tanh alone", opset: 13, side: 20, features: 9 * 6 * 6, nodes: func(b *builder) {
		b.node("Conv", []string{"x", b.weight(4, 1, 5, 5), b.weight(4)}, "c1", ints("kernel_shape", 5, 5))
		b.node("AveragePool", []string{"c1"}, "p1", ints("kernel_shape", 2, 2), ints("strides", 2, 2))
		b.node("Conv", []string{"p1", b.weight(9, 4, 3, 3)}, "c2", ints("kernel_shape", 3, 3))
		b.node("Tanh", []string{"c2"}, "h")
	}},
	{name: "stride 2: 3x3 pads 1 of 28, Relu; 1x1 of 14, AveragePool 7x7/7", opset: 13, side: 28, features: 12 * 1 * 1, nodes: func(b *builder) {
		b.node("Conv", []string{"x", b.weight(8, 1, 3, 3), b.weight(8)}, "c1", ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1), ints("strides", 2, 2))
		b.node("Relu", []string{"c1"}, "r1")
		b.node("Conv", []string{"r1", b.weight(12, 8, 1, 1), b.weight(12)}, "c2", ints("kernel_shape", 1, 1), ints("strides", 2, 2))
		b.node("AveragePool", []string{"c2"}, "h", ints("kernel_shape", 7, 7), ints("strides", 7, 7))
	}},
	{name: "strides 3 x 2: 5x4 of 17, asymmetric pads, Relu, MaxPool 2x2", opset: 13, side: 17, features: 6 * 3 * 4, nodes: func(b *builder) {
		b.node("Conv", []string{"x", b.weight(6, 1, 5, 4), b.weight(6)}, "c", ints("kernel_shape", 5, 4), ints("pads", 2, 1, 1, 2), ints("strides", 3, 2))
		b.node("Relu", []string{"c"}, "r")
		b.node("MaxPool", []string{"r"}, "h", ints("kernel_shape", 2, 2), ints("strides", 2, 2))
	}},
	{name: "5x5 valid, Tanh, Pad of one row: not fused", opset: 13, side: 16, features: 3 * 7 * 6, nodes: func(b *builder) {
		b.node("Conv", []string{"x", b.weight(3, 1, 5, 5), b.weight(3)}, "c", ints("kernel_shape", 5, 5))
		b.node("Tanh", []string{"c"}, "t")
		b.node("Pad", []string{"t", b.ints(0, 0, 1, 0, 0, 0, 1, 0)}, "q")
		b.node("AveragePool", []string{"q"}, "h", ints("kernel_shape", 2, 2), ints("strides", 2, 2))
	}},
}

// zeroPads adds a Constant node writing name, pads of nothing for a
// 4-D map, as torch.onnx.export writes before LeNet-5's AveragePool.
func zeroPads(b *builder, name string) {
	b.nodes = append(b.nodes, &onnx.NodeProto{OpType: "Constant", Output: []string{name}, Attribute: []*onnx.AttributeProto{
		{Name: "value", Type: onnx.AttributeProto_TENSOR, T: &onnx.TensorProto{Dims: []int64{8}, DataType: int32(onnx.TensorProto_INT64), Int64Data: make([]int64, 8)}}}})
}

// TestShiftConvMatchesORT runs the cases through the plan and ONNX
// Runtime, a batch and one image alone (split between the CPUs); where
// the kernels run in assembly the fused cases fuse.
func TestShiftConvMatchesORT(t *testing.T) {
	c := nchw.Conv2D{InC: 1, InH: 5, InW: 5, OutC: 1, KH: 3, KW: 3, StrideH: 1, StrideW: 1}
	sc, err := nchw.NewShiftConv(c, make([]float32, 9), nil)
	if err != nil {
		t.Fatal(err)
	}
	asm := sc.TileWidth() >= 8
	// The lengths of the chains each case fuses, Conv first.
	fusedChains := map[string][]int{shiftConvCases[0].name: {3, 3}, shiftConvCases[1].name: {3}, shiftConvCases[2].name: {2}, shiftConvCases[3].name: {2},
		shiftConvCases[4].name: {3}, shiftConvCases[5].name: {4, 4}, shiftConvCases[6].name: {4}, shiftConvCases[7].name: {2, 2},
		shiftConvCases[8].name: {2, 2}, shiftConvCases[9].name: {3}, shiftConvCases[10].name: {2}}
	matchORT(t, shiftConvCases, 16, 200, func(t *testing.T, gc graphCase, p *Plan) {
		var got []int
		for _, f := range p.Fused {
			got = append(got, len(f))
		}
		if want := fusedChains[gc.name]; asm && !slices.Equal(got, want) {
			t.Errorf("fused chains of %v nodes, want %v: %v", got, want, p.Fused)
		}
	})
}
