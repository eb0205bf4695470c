package backend

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/onnx"
)

// TestOneChannelLast: a Keras MLP's input, [N, 28, 28, 1] flattened as it
// is, with no Transpose: one channel last is the bytes of the [1, H, W]
// image callers give, and the plan reads it so, giving the logits of the
// same network declared [N, 1, H, W]; so too through the two Identity
// nodes keras2onnx 1.7 writes after its input.
func TestOneChannelLast(t *testing.T) {
	const side = 6
	build := func(dims []int64, identities int) string {
		b := &builder{rng: rand.New(rand.NewPCG(9, 7))}
		w, bias := b.weight(10, side*side), b.weight(10)
		read := "x"
		for i := range identities {
			b.node("Identity", []string{read}, fmt.Sprintf("id%d", i))
			read = fmt.Sprintf("id%d", i)
		}
		b.node("Flatten", []string{read}, "flat", intAttr("axis", 1))
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
	var logits [3][]float32
	for i, dims := range [][]int64{{1, side, side}, {side, side, 1}, {side, side, 1}} {
		p, err := Open(build(dims, 2*(i/2)))
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
	compare(t, "one channel last through Identity nodes against first", logits[2], logits[0])
}

// TestFixedBatchAndPlaneInputs: inputs as real exports declare them
// beside [batch, 1, H, W] run as ONNX Runtime runs them: a fixed batch
// (torch's export without a dynamic axis, whose x.view(x.size(0), -1)
// folds to a Reshape to [10, -1]), read as any batch, and a grey image
// without its channel axis, [batch, H, W] (a model that flattens or
// unsqueezes 28x28 arrays itself). ONNX Runtime runs the fixed batch's
// graphs that many images at a time.
func TestFixedBatchAndPlaneInputs(t *testing.T) {
	conv := func(b *builder, in string) {
		b.node("Conv", []string{in, b.weight(4, 1, 3, 3), b.weight(4)}, "c", ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1))
		b.node("Relu", []string{"c"}, "r")
	}
	cases := []graphCase{
		{name: "fixed batch 10, Reshape to [10, -1]", opset: 13, side: 12, batch: 10, features: 4 * 12 * 12, nodes: func(b *builder) {
			conv(b, "x")
			b.inits = append(b.inits, intsInit("shape", 10, -1))
			b.node("Reshape", []string{"r", "shape"}, "h")
		}},
		{name: "fixed batch 5, flat", opset: 13, side: 8, batch: 5, flat: true, features: 64, nodes: func(b *builder) {
			b.node("Relu", []string{"x"}, "h")
		}},
		{name: "[batch, H, W], Flatten then dense layers", opset: 13, side: 9, plane: true, features: 81, nodes: func(b *builder) {
			b.node("Identity", []string{"x"}, "h")
		}},
		{name: "[batch, H, W], Unsqueeze to a channel, a convolution", opset: 13, side: 10, plane: true, features: 4 * 10 * 10, nodes: func(b *builder) {
			b.inits = append(b.inits, intsInit("axes", 1))
			b.node("Unsqueeze", []string{"x", "axes"}, "x4")
			conv(b, "x4")
			b.node("Identity", []string{"r"}, "h")
		}},
		{name: "[10, H, W], fixed batch and no channel axis", opset: 13, side: 7, plane: true, batch: 10, features: 49, nodes: func(b *builder) {
			b.inits = append(b.inits, intsInit("shape", 10, 49))
			b.node("Reshape", []string{"x", "shape"}, "h")
		}},
	}
	matchORT(t, cases, 20, 800, func(t *testing.T, gc graphCase, p *Plan) {
		if p.FixedBatch != int(gc.batch) || p.Channels != 1 || p.Height != gc.side || p.Width != gc.side {
			t.Errorf("plan of %dx%dx%d images, fixed batch %d; want 1x%dx%[5]d, %d", p.Channels, p.Height, p.Width, p.FixedBatch, gc.side, gc.batch)
		}
	})
}

// TestFlatWithChannel: an MLP exported from x.view(1, 1, 784), its input
// [N, 1, H*W], is a square grey image flattened (as [N, H*W] is), not a
// picture 1 pixel high: the plan reads it so, as ONNX Runtime computes it.
func TestFlatWithChannel(t *testing.T) {
	const side, n = 6, 3
	b := &builder{rng: rand.New(rand.NewPCG(4, 7))}
	w, bias := b.weight(10, side*side), b.weight(10)
	b.node("MatMul", []string{"x", transposedInit(b, w, 10, side*side)}, "mm")
	b.node("Add", []string{"mm", bias}, "a")
	b.node("Flatten", []string{"a"}, "y", intAttr("axis", 1))
	in := imageInput("x", side)
	shape := in.Type.GetTensorType().Shape
	shape.Dim = shape.Dim[:3]
	shape.Dim[2].Value = &onnx.TensorShapeProto_Dimension_DimValue{DimValue: side * side}
	m := &onnx.ModelProto{IrVersion: 7, OpsetImport: []*onnx.OperatorSetIdProto{{Version: 13}},
		Graph: &onnx.GraphProto{Node: b.nodes, Initializer: b.inits, Input: []*onnx.ValueInfoProto{in}, Output: []*onnx.ValueInfoProto{{Name: "y"}}}}
	path := filepath.Join(t.TempDir(), "g.onnx")
	writeModel(t, m, path)
	p, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if p.Channels != 1 || p.Height != side || p.Width != side {
		t.Fatalf("read as %dx%dx%d, want 1x%dx%[4]d", p.Channels, p.Height, p.Width, side)
	}
	x := randomImages(n, side)
	got := make([]float32, n*10)
	if err := p.Logits(got, x, n); err != nil {
		t.Fatal(err)
	}
	want := ortOutputs(t, []testtool.ORTJob{{Model: path, N: n, C: 1, H: 1, W: side * side, Plane: true}}, [][]float32{x})[0]
	compare(t, "[N, 1, H*W]", got, want)
}

// transposedInit adds initializer name's [rows, cols] values as [cols, rows].
func transposedInit(b *builder, name string, rows, cols int) string {
	for _, t := range b.inits {
		if t.Name == name {
			v := make([]float32, len(t.FloatData))
			for r := range rows {
				for c := range cols {
					v[c*rows+r] = t.FloatData[r*cols+c]
				}
			}
			b.inits = append(b.inits, &onnx.TensorProto{Name: name + "_t", Dims: []int64{int64(cols), int64(rows)}, DataType: t.DataType, FloatData: v})
			return name + "_t"
		}
	}
	panic("no initializer " + name)
}

// TestRowsOnBatchAxis: a graph exported with a dummy of one W x W image,
// its input [batch, W] reshaped to [-1, W*W], is refused saying so and
// how to export it, not as a flat vector of no known size.
func TestRowsOnBatchAxis(t *testing.T) {
	b := &builder{rng: rand.New(rand.NewPCG(3, 7))}
	b.node("Reshape", []string{"x", b.ints(-1, 36)}, "flat")
	b.node("Gemm", []string{"flat", b.weight(10, 36), b.weight(10)}, "y", intAttr("transB", 1))
	in := imageInput("x", 6)
	in.Type.GetTensorType().Shape.Dim = in.Type.GetTensorType().Shape.Dim[:2]
	in.Type.GetTensorType().Shape.Dim[1].Value = &onnx.TensorShapeProto_Dimension_DimValue{DimValue: 6}
	m := &onnx.ModelProto{IrVersion: 7, OpsetImport: []*onnx.OperatorSetIdProto{{Version: 13}},
		Graph: &onnx.GraphProto{Node: b.nodes, Initializer: b.inits, Input: []*onnx.ValueInfoProto{in}, Output: []*onnx.ValueInfoProto{{Name: "y"}}}}
	_, err := openModel(t, m, Options{})
	if !errors.Is(err, onnx.ErrUnsupported) || !strings.Contains(err.Error(), "one 6x6 image, (6, 6), whose rows the first axis holds") ||
		!strings.Contains(err.Error(), "export it again with a dummy of shape (1, 6, 6)") {
		t.Errorf("%v", err)
	}
}
