package backend

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/onnx"
)

// A graph of the tests: input "x" [batch, 1, side, side], nodes writing
// "h", then Flatten and a Gemm to 10 outputs "y", so that every case ends
// in what ONNX Runtime's harness reads.
type graphCase struct {
	name  string
	opset int64
	side  int
	nodes func(b *builder) // reads "x", writes "h"
	// features is h's size per image, for the final Gemm.
	features int
	// softmax: the graph ends in Softmax, whose output the plan gives as
	// its logarithm.
	softmax bool
	// flat: the input is the image flattened, [batch, side*side], as an
	// MLP's export declares it.
	flat bool
	// plane: the input has no channel axis, [batch, side, side].
	plane bool
	// batch, when not 0, is the input's fixed batch, as torch exports it
	// without a dynamic axis; ONNX Runtime then runs that many at a time.
	batch int64
}

type builder struct {
	nodes []*onnx.NodeProto
	inits []*onnx.TensorProto
	rng   *rand.Rand
	n     int
}

func (b *builder) node(typ string, in []string, out string, attrs ...*onnx.AttributeProto) {
	b.nodes = append(b.nodes, &onnx.NodeProto{OpType: typ, Input: in, Output: []string{out}, Attribute: attrs})
}

// weight adds a random float initializer and returns its name.
func (b *builder) weight(dims ...int64) string {
	b.n++
	name := fmt.Sprintf("w%d", b.n)
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(b.rng.NormFloat64() * 0.3)
	}
	b.inits = append(b.inits, &onnx.TensorProto{Name: name, Dims: dims, DataType: int32(onnx.TensorProto_FLOAT), FloatData: v})
	return name
}

// positive adds a float initializer of values in [0.5, 1.5] (variances, divisors).
func (b *builder) positive(dims ...int64) string {
	name := b.weight(dims...)
	t := b.inits[len(b.inits)-1]
	for i := range t.FloatData {
		t.FloatData[i] = 0.5 + float32(b.rng.Float64())
	}
	return name
}

// scalar adds a 0-d initializer: an int64 when isInt, else a float32.
func (b *builder) scalar(v float64, isInt bool) string {
	b.n++
	name := fmt.Sprintf("s%d", b.n)
	t := &onnx.TensorProto{Name: name, DataType: int32(onnx.TensorProto_FLOAT), FloatData: []float32{float32(v)}}
	if isInt {
		t.DataType, t.FloatData, t.Int64Data = int32(onnx.TensorProto_INT64), nil, []int64{int64(v)}
	}
	b.inits = append(b.inits, t)
	return name
}

func (b *builder) ints(v ...int64) string {
	b.n++
	name := fmt.Sprintf("i%d", b.n)
	b.inits = append(b.inits, &onnx.TensorProto{Name: name, Dims: []int64{int64(len(v))}, DataType: int32(onnx.TensorProto_INT64), Int64Data: v})
	return name
}

func ints(name string, v ...int64) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_INTS, Ints: v}
}

func intAttr(name string, v int64) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_INT, I: &v}
}

func floatAttr(name string, v float32) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_FLOAT, F: &v}
}

func strAttr(name, v string) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_STRING, S: []byte(v)}
}

func imageInput(name string, side int) *onnx.ValueInfoProto {
	dims := []*onnx.TensorShapeProto_Dimension{{Value: &onnx.TensorShapeProto_Dimension_DimParam{DimParam: "batch"}}}
	for _, d := range []int64{1, int64(side), int64(side)} {
		dims = append(dims, &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: d}})
	}
	return &onnx.ValueInfoProto{Name: name, Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{
		ElemType: int32(onnx.TensorProto_FLOAT), Shape: &onnx.TensorShapeProto{Dim: dims}}}}}
}

func (gc graphCase) model(seed uint64) *onnx.ModelProto {
	b := &builder{rng: rand.New(rand.NewPCG(seed, 7))}
	gc.nodes(b)
	b.node("Flatten", []string{"h"}, "flat", intAttr("axis", 1))
	last := "y"
	if gc.softmax {
		last = "z"
	}
	b.node("Gemm", []string{"flat", b.weight(10, int64(gc.features)), b.weight(10)}, last, intAttr("transB", 1))
	if gc.softmax {
		axis := int64(1)
		if gc.opset >= 13 {
			axis = -1
		}
		b.node("Softmax", []string{"z"}, "y", intAttr("axis", axis))
	}
	out := &onnx.ValueInfoProto{Name: "y", Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{
		ElemType: int32(onnx.TensorProto_FLOAT)}}}}
	return &onnx.ModelProto{
		IrVersion:   7,
		OpsetImport: []*onnx.OperatorSetIdProto{{Domain: "", Version: gc.opset}},
		Graph: &onnx.GraphProto{Name: gc.name, Node: b.nodes, Initializer: b.inits,
			Input: []*onnx.ValueInfoProto{gc.input()}, Output: []*onnx.ValueInfoProto{out}},
	}
}

// input is the graph's input "x": an image of side x side, or with flat
// the same image flattened, or with plane without its channel axis; its
// batch fixed with batch.
func (gc graphCase) input() *onnx.ValueInfoProto {
	in := imageInput("x", gc.side)
	shape := in.Type.GetTensorType().Shape
	switch {
	case gc.flat:
		shape.Dim = shape.Dim[:2]
		shape.Dim[1].Value = &onnx.TensorShapeProto_Dimension_DimValue{DimValue: int64(gc.side * gc.side)}
	case gc.plane:
		shape.Dim = append(shape.Dim[:1], shape.Dim[2:]...)
	}
	if gc.batch > 0 {
		shape.Dim[0].Value = &onnx.TensorShapeProto_Dimension_DimValue{DimValue: gc.batch}
	}
	return in
}

func writeModel(t *testing.T, m *onnx.ModelProto, path string) {
	t.Helper()
	b, err := onnx.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// ortOutputs runs ONNX Runtime over every job in one process and returns
// each job's first output.
func ortOutputs(t *testing.T, jobs []testtool.ORTJob, inputs [][]float32) [][]float32 {
	t.Helper()
	dir := t.TempDir()
	for i := range jobs {
		jobs[i].Input, jobs[i].Out = filepath.Join(dir, fmt.Sprintf("x%d.f32", i)), filepath.Join(dir, fmt.Sprintf("y%d.f32", i))
		var buf bytes.Buffer
		binary.Write(&buf, binary.LittleEndian, inputs[i])
		if err := os.WriteFile(jobs[i].Input, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	testtool.RunORT(t, jobs)
	var out [][]float32
	for _, j := range jobs {
		raw, err := os.ReadFile(j.Out)
		if err != nil {
			t.Fatal(err)
		}
		y := make([]float32, len(raw)/4)
		binary.Read(bytes.NewReader(raw), binary.LittleEndian, y)
		out = append(out, y)
	}
	return out
}

func randomImages(n, side int) []float32 {
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, n*side*side)
	for i := range x {
		x[i] = rng.Float32()
	}
	return x
}

// conv3 is Conv 3x3 pad 1 from c to k channels, with a bias.
func conv3(b *builder, in, out string, c, k int64) {
	b.node("Conv", []string{in, b.weight(k, c, 3, 3), b.weight(k)}, out, ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1))
}

// The cases cover each operator and form the backend compiles, at the
// opsets where their forms change.
var graphCases = []graphCase{
	{name: "MeanVarianceNormalization of each image, and of each channel (DJL's LayerNorm)", opset: 13, side: 6, features: 4 * 36, nodes: func(b *builder) {
		conv3(b, "x", "c", 1, 4)
		b.node("MeanVarianceNormalization", []string{"c"}, "m", ints("axes", 1, 2, 3))
		b.node("MeanVarianceNormalization", []string{"m"}, "h", ints("axes", 2, 3))
	}},
	{name: "a hidden dense layer of 32, its rows batched across images", opset: 13, side: 6, features: 32, nodes: func(b *builder) {
		b.node("Flatten", []string{"x"}, "f", intAttr("axis", 1))
		b.node("Gemm", []string{"f", b.weight(32, 36), b.weight(32)}, "g", intAttr("transB", 1))
		b.node("Relu", []string{"g"}, "h")
	}},
	{name: "two dense layers of one input, added: a skip around the first", opset: 13, side: 6, features: 32, nodes: func(b *builder) {
		b.node("Flatten", []string{"x"}, "f", intAttr("axis", 1))
		b.node("Gemm", []string{"f", b.weight(32, 36), b.weight(32)}, "g1", intAttr("transB", 1))
		b.node("Gemm", []string{"f", b.weight(32, 36), b.weight(32)}, "g2", intAttr("transB", 1))
		b.node("Add", []string{"g1", "g2"}, "h")
	}},
	{name: "Keras's blocks, the second on a 14-wide map (widened where no tile is 14 wide)", opset: 13, side: 28, features: 16 * 7 * 7, nodes: func(b *builder) {
		conv3(b, "x", "c1", 1, 8)
		b.node("Relu", []string{"c1"}, "r1")
		b.node("MaxPool", []string{"r1"}, "p1", ints("kernel_shape", 2, 2), ints("strides", 2, 2))
		conv3(b, "p1", "c2", 8, 16)
		b.node("Relu", []string{"c2"}, "r2")
		b.node("MaxPool", []string{"r2"}, "h", ints("kernel_shape", 2, 2), ints("strides", 2, 2))
	}},
	{name: "a block on a 14-wide map of one channel, widened", opset: 13, side: 14, features: 8 * 7 * 7, nodes: func(b *builder) {
		conv3(b, "x", "c", 1, 8)
		b.node("Relu", []string{"c"}, "r")
		b.node("BatchNormalization", []string{"r", b.positive(8), b.weight(8), b.weight(8), b.positive(8)}, "n")
		b.node("MaxPool", []string{"n"}, "h", ints("kernel_shape", 2, 2), ints("strides", 2, 2))
	}},
	{name: "seed block (fused)", opset: 13, side: 8, features: 8 * 4 * 4, nodes: func(b *builder) {
		conv3(b, "x", "c", 1, 8)
		b.node("Relu", []string{"c"}, "r")
		b.node("BatchNormalization", []string{"r", b.positive(8), b.weight(8), b.weight(8), b.positive(8)}, "n", floatAttr("epsilon", 1e-5))
		b.node("MaxPool", []string{"n"}, "h", ints("kernel_shape", 2, 2), ints("strides", 2, 2))
	}},
	{name: "two seed blocks, 16 channels, opset 9", opset: 9, side: 8, features: 16 * 2 * 2, nodes: func(b *builder) {
		conv3(b, "x", "c", 1, 16)
		b.node("Relu", []string{"c"}, "r")
		b.node("BatchNormalization", []string{"r", b.positive(16), b.weight(16), b.weight(16), b.positive(16)}, "n")
		b.node("MaxPool", []string{"n"}, "p", ints("kernel_shape", 2, 2), ints("strides", 2, 2))
		conv3(b, "p", "c2", 16, 16)
		b.node("Relu", []string{"c2"}, "r2")
		b.node("BatchNormalization", []string{"r2", b.weight(16), b.weight(16), b.weight(16), b.positive(16)}, "n2")
		b.node("MaxPool", []string{"n2"}, "h", ints("kernel_shape", 2, 2), ints("strides", 2, 2))
	}},
	{name: "conv 5x5 stride 2 asymmetric pads, LeakyRelu", opset: 13, side: 9, features: 4 * 4 * 3, nodes: func(b *builder) {
		b.node("Conv", []string{"x", b.weight(4, 1, 5, 5), b.weight(4)}, "c", ints("strides", 2, 2), ints("pads", 1, 0, 2, 1))
		b.node("LeakyRelu", []string{"c"}, "h", floatAttr("alpha", 0.2))
	}},
	{name: "conv SAME_UPPER stride 2, Sigmoid", opset: 11, side: 9, features: 3 * 5 * 5, nodes: func(b *builder) {
		b.node("Conv", []string{"x", b.weight(3, 1, 4, 4)}, "c", ints("strides", 2, 2), strAttr("auto_pad", "SAME_UPPER"))
		b.node("Sigmoid", []string{"c"}, "h")
	}},
	{name: "conv SAME_LOWER then VALID, Tanh", opset: 7, side: 8, features: 2 * 6 * 6, nodes: func(b *builder) {
		b.node("Conv", []string{"x", b.weight(3, 1, 2, 2), b.weight(3)}, "c", strAttr("auto_pad", "SAME_LOWER"))
		b.node("Tanh", []string{"c"}, "t")
		b.node("Conv", []string{"t", b.weight(2, 3, 3, 3)}, "h", strAttr("auto_pad", "VALID"))
	}},
	{name: "AveragePool count_include_pad 0, ceil_mode", opset: 10, side: 9, features: 4 * 5 * 5, nodes: func(b *builder) {
		conv3(b, "x", "c", 1, 4)
		b.node("AveragePool", []string{"c"}, "h", ints("kernel_shape", 3, 3), ints("strides", 2, 2), ints("pads", 1, 1, 1, 1), intAttr("ceil_mode", 1))
	}},
	{name: "AveragePool count_include_pad 1", opset: 19, side: 8, features: 4 * 4 * 4, nodes: func(b *builder) {
		conv3(b, "x", "c", 1, 4)
		b.node("AveragePool", []string{"c"}, "h", ints("kernel_shape", 3, 3), ints("strides", 2, 2), ints("pads", 1, 1, 1, 1), intAttr("count_include_pad", 1))
	}},
	{name: "MaxPool default strides, pads", opset: 12, side: 8, features: 4 * 7 * 7, nodes: func(b *builder) {
		conv3(b, "x", "c", 1, 4)
		b.node("MaxPool", []string{"c"}, "h", ints("kernel_shape", 3, 3), ints("pads", 0, 0, 1, 1), intAttr("ceil_mode", 0))
	}},
	{name: "BatchNormalization alone, GlobalAveragePool", opset: 15, side: 8, features: 6, nodes: func(b *builder) {
		conv3(b, "x", "c", 1, 6)
		b.node("BatchNormalization", []string{"c", b.weight(6), b.weight(6), b.weight(6), b.positive(6)}, "n", intAttr("training_mode", 0))
		b.node("GlobalAveragePool", []string{"n"}, "h")
	}},
	{name: "Add Sub Mul Div broadcasting", opset: 14, side: 6, features: 3 * 6 * 6, nodes: func(b *builder) {
		conv3(b, "x", "c", 1, 3)
		b.node("Add", []string{"c", b.weight(3, 1, 1)}, "a")
		b.node("Mul", []string{b.weight(1), "a"}, "m")
		b.node("Sub", []string{"m", b.weight(6)}, "s")
		b.node("Div", []string{"s", b.positive(3, 6, 1)}, "d")
		b.node("Add", []string{"d", "c"}, "h") // two run-time operands
	}},
	{name: "view: Shape Gather Unsqueeze Concat Reshape", opset: 13, side: 6, features: 2 * 6 * 6, nodes: func(b *builder) {
		conv3(b, "x", "c", 1, 2)
		b.node("Shape", []string{"c"}, "s")
		b.node("Gather", []string{"s", b.scalar(0, true)}, "n0", intAttr("axis", 0))
		b.node("Unsqueeze", []string{"n0", b.ints(0)}, "n1")
		b.node("Concat", []string{"n1", b.ints(-1)}, "shape", intAttr("axis", 0))
		b.node("Reshape", []string{"c", "shape"}, "r")
		b.node("Relu", []string{"r"}, "h")
	}},
	{name: "Reshape 0,-1 and Constant, opset 11 Squeeze/Unsqueeze attributes", opset: 11, side: 6, features: 2 * 36, nodes: func(b *builder) {
		conv3(b, "x", "c", 1, 2)
		b.nodes = append(b.nodes, &onnx.NodeProto{OpType: "Constant", Output: []string{"k"}, Attribute: []*onnx.AttributeProto{
			{Name: "value", Type: onnx.AttributeProto_TENSOR, T: &onnx.TensorProto{Dims: []int64{2}, DataType: int32(onnx.TensorProto_INT64), Int64Data: []int64{0, -1}}}}})
		b.node("Reshape", []string{"c", "k"}, "r")
		b.node("Unsqueeze", []string{"r"}, "u", ints("axes", 1))
		b.node("Squeeze", []string{"u"}, "h", ints("axes", 1))
	}},
	{name: "Unsqueeze/Squeeze inputs, Dropout, Identity, Cast", opset: 13, side: 6, features: 36, nodes: func(b *builder) {
		conv3(b, "x", "c", 1, 1)
		b.node("Unsqueeze", []string{"c", b.ints(0)}, "u")
		b.node("Dropout", []string{"u", b.scalar(0.3, false)}, "d")
		b.node("Squeeze", []string{"d", b.ints(0)}, "s")
		b.node("Identity", []string{"s"}, "i")
		b.node("Cast", []string{"i"}, "h", intAttr("to", int64(onnx.TensorProto_FLOAT)))
	}},
	{name: "Gemm alpha beta, MatMul, Softmax opset 11", opset: 11, side: 4, features: 5, softmax: true, nodes: func(b *builder) {
		b.node("Flatten", []string{"x"}, "f")
		b.node("Gemm", []string{"f", b.weight(16, 7), b.weight(1, 7)}, "g", floatAttr("alpha", 0.5), floatAttr("beta", 2))
		b.node("MatMul", []string{"g", b.weight(7, 5)}, "mm")
		b.node("Add", []string{"mm", b.weight(5)}, "h")
	}},
	{name: "LogSoftmax, Softmax opset 13, Pad", opset: 13, side: 6, features: 10, softmax: true, nodes: func(b *builder) {
		b.node("Pad", []string{"x", b.ints(0, 0, 1, 2, 0, 0, 2, 1)}, "p")
		b.node("Flatten", []string{"p"}, "f")
		b.node("Gemm", []string{"f", b.weight(10, 81), b.weight(10)}, "g", intAttr("transB", 1))
		b.node("LogSoftmax", []string{"g"}, "h", intAttr("axis", 1))
	}},
	{name: "Pad attribute form, opset 9", opset: 9, side: 6, features: 2 * 8 * 8, nodes: func(b *builder) {
		conv3(b, "x", "c", 1, 2)
		b.node("Pad", []string{"c"}, "h", ints("pads", 0, 0, 1, 1, 0, 0, 1, 1), floatAttr("value", 0.5))
	}},
	{name: "opset 21", opset: 21, side: 6, features: 2 * 3 * 3, nodes: func(b *builder) {
		conv3(b, "x", "c", 1, 2)
		b.node("Relu", []string{"c"}, "r")
		b.node("MaxPool", []string{"r"}, "h", ints("kernel_shape", 2, 2), ints("strides", 2, 2))
	}},
}

// TestOperatorsMatchORT runs every case through the plan and through ONNX
// Runtime on the same 24 images (a batch of 24 and one image alone, the
// paths that spread images and that split one).
func TestOperatorsMatchORT(t *testing.T) {
	matchORT(t, graphCases, 24, 0, func(t *testing.T, gc graphCase, p *Plan) {
		// On a CPU whose kernels run the widened map, the blocks fuse.
		if strings.Contains(gc.name, "widened") && (kernel.Conv3x3{H: 14, W: 16, In: 1, Out: 8}).Vectorized() && len(p.Fused) == 0 {
			t.Error("the widened blocks were not fused")
		}
	})
}

// matchORT runs every case through the plan and through ONNX Runtime on
// the same n images, a batch and one image alone, the model of case i
// made with seed+i; check, when not nil, looks at each plan first.
func matchORT(t *testing.T, cases []graphCase, n int, seed uint64, check func(*testing.T, graphCase, *Plan)) {
	dir := t.TempDir()
	var jobs []testtool.ORTJob
	var inputs [][]float32
	for i, gc := range cases {
		path := filepath.Join(dir, fmt.Sprintf("g%d.onnx", i))
		writeModel(t, gc.model(seed+uint64(i)), path)
		jobs = append(jobs, testtool.ORTJob{Model: path, N: n, C: 1, H: gc.side, W: gc.side, Flat: gc.flat, Plane: gc.plane, Batch: int(gc.batch)})
		inputs = append(inputs, randomImages(n, gc.side))
	}
	wants := ortOutputs(t, jobs, inputs)
	for i, gc := range cases {
		t.Run(gc.name, func(t *testing.T) {
			p, err := Open(jobs[i].Model)
			if err != nil {
				t.Fatal(err)
			}
			if check != nil {
				check(t, gc, p)
			}
			x, want := inputs[i], wants[i]
			got := make([]float32, n*10)
			if err := p.Logits(got, x, n); err != nil {
				t.Fatal(err)
			}
			one := make([]float32, 10)
			if err := p.Logits(one, x[:gc.side*gc.side], 1); err != nil {
				t.Fatal(err)
			}
			if gc.softmax {
				if !p.EndsInSoftmax {
					t.Error("EndsInSoftmax not set")
				}
				for i := range got {
					got[i] = float32(math.Exp(float64(got[i])))
				}
				for i := range one {
					one[i] = float32(math.Exp(float64(one[i])))
				}
			}
			compare(t, fmt.Sprintf("batch of %d", n), got, want)
			compare(t, "one image", one, want[:10])
		})
	}
}

func compare(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, ONNX Runtime %d", what, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); !(d <= 1e-4*(1+math.Abs(float64(want[i])))) {
			t.Fatalf("%s: value %d is %g, ONNX Runtime %g", what, i, got[i], want[i])
		}
	}
}

// TestRefusals: what is not an inference graph of supported operators is
// refused with a message that says so.
func TestRefusals(t *testing.T) {
	base := func(opset int64, nodes func(b *builder)) *onnx.ModelProto {
		return graphCase{name: "refused", opset: opset, side: 4, features: 16, nodes: nodes}.model(1)
	}
	bn := func(b *builder, attrs ...*onnx.AttributeProto) *onnx.NodeProto {
		b.node("BatchNormalization", []string{"x", b.weight(1), b.weight(1), b.weight(1), b.positive(1)}, "h", attrs...)
		return b.nodes[len(b.nodes)-1]
	}
	cases := []struct {
		name string
		m    *onnx.ModelProto
		want string
	}{
		{"BatchNorm with running statistics out, opset 9", base(9, func(b *builder) {
			bn(b).Output = []string{"h", "mean", "var", "sm", "sv"}
		}), "training graph"},
		{"BatchNorm training_mode 1, opset 15", base(15, func(b *builder) { bn(b, intAttr("training_mode", 1)) }), "training_mode 1"},
		{"Dropout training_mode true", base(13, func(b *builder) {
			b.nodes = append(b.nodes, &onnx.NodeProto{OpType: "Constant", Output: []string{"tm"}, Attribute: []*onnx.AttributeProto{
				{Name: "value", Type: onnx.AttributeProto_TENSOR, T: &onnx.TensorProto{DataType: int32(onnx.TensorProto_BOOL), Int32Data: []int32{1}}}}})
			b.node("Dropout", []string{"x", b.weight(1), "tm"}, "h")
		}), "training_mode true"},
		{"unsupported operators, all named", base(13, func(b *builder) {
			b.node("Asin", []string{"x"}, "e")
			b.node("Gelu2", []string{"e"}, "g")
			b.node("Asin", []string{"g"}, "h")
		}), "operators not supported: Asin (2 nodes), Gelu2"},
		{"opset 0", base(0, func(b *builder) { b.node("Relu", []string{"x"}, "h") }), "opset 0"},
		{"opset 6 Dropout that trains", base(6, func(b *builder) { b.node("Dropout", []string{"x"}, "h") }), "Dropout without is_test 1 drops at random (training mode)"},
		{"opset 1 broadcast of a computed operand of unknown rank", base(1, func(b *builder) {
			b.node("Reshape", []string{"x"}, "r", ints("shape", 1, 784))
			b.node("Gather", []string{"r", b.ints(0)}, "g")
			b.node("Add", []string{"r", "g"}, "h", intAttr("broadcast", 1), intAttr("axis", 1))
		}), "broadcasting at axis 1 needs the ranks of \"r\" and \"g\""},
		{"opset 22", base(22, func(b *builder) { b.node("Relu", []string{"x"}, "h") }), "opset 22"},
		{"grouped convolution", base(13, func(b *builder) {
			b.node("Conv", []string{"x", b.weight(1, 1, 1, 1)}, "h", intAttr("group", 2))
		}), "group"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "g.onnx")
			writeModel(t, c.m, path)
			_, err := Open(path)
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v, want one line with %q", err, c.want)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

// TestExternalData: weights stored beside the model are read; a location
// outside the model's folder is refused.
func TestExternalData(t *testing.T) {
	gc := graphCases[0]
	m := gc.model(1)
	dir := t.TempDir()
	inline := filepath.Join(dir, "inline.onnx")
	writeModel(t, m, inline)
	// Move every float initializer to weights.bin.
	var blob bytes.Buffer
	for _, init := range m.Graph.Initializer {
		if len(init.FloatData) == 0 {
			continue
		}
		off := blob.Len()
		binary.Write(&blob, binary.LittleEndian, init.FloatData)
		init.ExternalData = []*onnx.StringStringEntryProto{{Key: "location", Value: "weights.bin"},
			{Key: "offset", Value: fmt.Sprint(off)}, {Key: "length", Value: fmt.Sprint(4 * len(init.FloatData))}}
		init.DataLocation, init.FloatData = onnx.TensorProto_EXTERNAL, nil
	}
	if err := os.WriteFile(filepath.Join(dir, "weights.bin"), blob.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	external := filepath.Join(dir, "external.onnx")
	writeModel(t, m, external)
	x := randomImages(4, gc.side)
	run := func(path string) []float32 {
		p, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		y := make([]float32, 40)
		if err := p.Logits(y, x, 4); err != nil {
			t.Fatal(err)
		}
		return y
	}
	compare(t, "external against inline", run(external), run(inline))

	// OpenData: the inline model's bytes run as its file does; the
	// external one's have no folder to read their weights from.
	data, err := os.ReadFile(inline)
	if err != nil {
		t.Fatal(err)
	}
	p, err := OpenData(data, "inline model", Options{})
	if err != nil {
		t.Fatal(err)
	}
	y := make([]float32, 40)
	if err := p.Logits(y, x, 4); err != nil {
		t.Fatal(err)
	}
	compare(t, "OpenData against the file", y, run(inline))
	if data, err = os.ReadFile(external); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenData(data, "external model", Options{}); err == nil || !strings.Contains(err.Error(), "no folder") {
		t.Errorf("OpenData of a model with external data: error %v, want a refusal saying it has no folder", err)
	}

	for _, loc := range []string{"../weights.bin", filepath.Join(dir, "weights.bin")} {
		m.Graph.Initializer[0].ExternalData[0].Value = loc
		sub := filepath.Join(dir, "sub")
		os.MkdirAll(sub, 0o755)
		path := filepath.Join(sub, "escape.onnx")
		writeModel(t, m, path)
		if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "model's folder") {
			t.Errorf("location %q: error %v, want a refusal naming the model's folder", loc, err)
		}
	}
}
