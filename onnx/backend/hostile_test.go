package backend

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

// hostileBin is the external data file beside the hostile models: 4 KB.
const (
	hostileBin  = "w.bin"
	hostileSize = 4096
)

// hostileCase is a small model that the compiler once crashed on, ran out
// of memory on or ran wrongly (issue 19; reference/hostile.py writes the
// full-size files), with what its refusal says and which kind it is.
type hostileCase struct {
	name string
	m    *onnx.ModelProto
	want string
	kind error // modelfile.ErrLimit, ErrFormat or nil
}

// small is a model of the given nodes and initializers on an input
// [batch, 1, 32, 32], ending in head: GlobalAveragePool, Flatten and a
// Gemm of 10 outputs behind value x.
func small(opset int64, x string, nodes []*onnx.NodeProto, inits ...*onnx.TensorProto) *onnx.ModelProto {
	nodes = append(nodes,
		&onnx.NodeProto{OpType: "GlobalAveragePool", Input: []string{x}, Output: []string{"gap"}},
		&onnx.NodeProto{OpType: "Flatten", Input: []string{"gap"}, Output: []string{"flat"}},
		&onnx.NodeProto{OpType: "Gemm", Input: []string{"flat", "head_w", "head_b"}, Output: []string{"y"}, Attribute: []*onnx.AttributeProto{intAttr("transB", 1)}})
	inits = append(inits, floatInit("head_w", []int64{10, 1}, 0.1), floatInit("head_b", []int64{10}, 0))
	return &onnx.ModelProto{IrVersion: 7, OpsetImport: []*onnx.OperatorSetIdProto{{Version: opset}},
		Graph: &onnx.GraphProto{Name: "hostile", Node: nodes, Initializer: inits,
			Input:  []*onnx.ValueInfoProto{imageInput("x", 32)},
			Output: []*onnx.ValueInfoProto{{Name: "y"}}}}
}

func nodeOf(typ string, in []string, out string, attrs ...*onnx.AttributeProto) *onnx.NodeProto {
	return &onnx.NodeProto{OpType: typ, Name: out, Input: in, Output: []string{out}, Attribute: attrs}
}

// floatInit is a float initializer of the given shape, every value v.
func floatInit(name string, dims []int64, v float32) *onnx.TensorProto {
	n := 1
	for _, d := range dims {
		n *= int(d)
	}
	data := make([]float32, n)
	for i := range data {
		data[i] = v
	}
	return &onnx.TensorProto{Name: name, Dims: dims, DataType: int32(onnx.TensorProto_FLOAT), FloatData: data}
}

func intsInit(name string, v ...int64) *onnx.TensorProto {
	return &onnx.TensorProto{Name: name, Dims: []int64{int64(len(v))}, DataType: int32(onnx.TensorProto_INT64), Int64Data: v}
}

// externalInit is a float initializer of shape dims whose data is bytes
// [offset, offset+length) of the hostile models' w.bin.
func externalInit(name string, dims []int64, offset, length int64) *onnx.TensorProto {
	return &onnx.TensorProto{Name: name, Dims: dims, DataType: int32(onnx.TensorProto_FLOAT), DataLocation: onnx.TensorProto_EXTERNAL,
		ExternalData: []*onnx.StringStringEntryProto{{Key: "location", Value: hostileBin},
			{Key: "offset", Value: fmt.Sprint(offset)}, {Key: "length", Value: fmt.Sprint(length)}}}
}

func hostileCases() []hostileCase {
	const big = 1 << 62
	concat := []*onnx.NodeProto{{OpType: "Constant", Output: []string{"c0"}, Attribute: []*onnx.AttributeProto{
		{Name: "value", Type: onnx.AttributeProto_TENSOR, T: intsInit("", 1)}}}}
	for i := range 40 {
		concat = append(concat, nodeOf("Concat", []string{fmt.Sprint("c", i), fmt.Sprint("c", i)}, fmt.Sprint("c", i+1), intAttr("axis", 0)))
	}
	var convs, pads []*onnx.NodeProto
	x, side := "x", int64(32)
	for i := range 8 {
		convs = append(convs, nodeOf("Conv", []string{x, "one"}, fmt.Sprint("conv", i), ints("kernel_shape", 1, 1), ints("pads", side, side, side, side)))
		x, side = fmt.Sprint("conv", i), 3*side
	}
	for i := range 16 {
		in := "x"
		if i > 0 {
			in = fmt.Sprint("pad", i-1)
		}
		pads = append(pads, nodeOf("Pad", []string{in, "pads"}, fmt.Sprint("pad", i)))
	}
	wide := small(13, "mix", []*onnx.NodeProto{nodeOf("Conv", []string{"x", "mix_w"}, "mix", ints("kernel_shape", 1, 1))},
		floatInit("mix_w", []int64{1, 4096, 1, 1}, 1))
	wide.Graph.Input[0] = imageInput("x", 4096)
	wide.Graph.Input[0].Type.GetTensorType().Shape.Dim[1].Value = &onnx.TensorShapeProto_Dimension_DimValue{DimValue: 4096}
	var shared []*onnx.TensorProto
	for i := range 16 {
		shared = append(shared, externalInit(fmt.Sprint("shared", i), []int64{hostileSize / 4}, 0, hostileSize))
	}
	alpha := small(13, "x", nil)
	alpha.Graph.Node[2].Attribute = append(alpha.Graph.Node[2].Attribute, floatAttr("alpha", float32(math.NaN())))
	gemmC := small(13, "x", nil)
	gemmC.Graph.Initializer[1] = floatInit("head_b", []int64{5, 10}, 0)
	zeroRows := small(15, "x", []*onnx.NodeProto{
		nodeOf("Shape", []string{"x"}, "empty", intAttr("start", 0), intAttr("end", 0)),
		nodeOf("Cast", []string{"empty"}, "empty_f", intAttr("to", int64(onnx.TensorProto_FLOAT))),
		nodeOf("Reshape", []string{"empty_f", "zero_rows"}, "a"),
		nodeOf("Flatten", []string{"x"}, "pixels", intAttr("axis", 1)),
		nodeOf("Gemm", []string{"a", "pixels"}, "rows"),
		nodeOf("Softmax", []string{"rows"}, "probs", intAttr("axis", -1)),
	}, intsInit("zero_rows", 0, 1))
	return []hostileCase{
		{"reshape_overflow", small(13, "back", []*onnx.NodeProto{
			nodeOf("Reshape", []string{"x", "huge"}, "r"), nodeOf("Add", []string{"r", "seven"}, "sum"),
			nodeOf("Reshape", []string{"sum", "image"}, "back")},
			intsInit("huge", 1, 1024, 7, 0x6DB6DB6DB6DB6DB7), floatInit("seven", []int64{7, 1}, 0), intsInit("image", 1, 1, 32, 32)),
			"dimension 7905747460161236407 is more than 2147483647", modelfile.ErrLimit},
		{"maxpool_overflow", small(13, "pool", []*onnx.NodeProto{nodeOf("MaxPool", []string{"x"}, "pool",
			ints("kernel_shape", big, big), ints("pads", big, big, big, big), ints("strides", 1, 1))}),
			"kernel size 4611686018427387904 is more than 2147483647", modelfile.ErrLimit},
		{"maxpool_pads", small(13, "pool", []*onnx.NodeProto{nodeOf("MaxPool", []string{"x"}, "pool",
			ints("kernel_shape", 3, 3), ints("pads", 3, 3, 3, 3))}),
			"pads 3 3 3 3 not smaller than the kernel 3x3", modelfile.ErrFormat},
		{"conv_stride_overflow", small(13, "c", []*onnx.NodeProto{nodeOf("Conv", []string{"x", "one"}, "c",
			ints("strides", big, 1), ints("pads", big, 0, 0, 0))}, floatInit("one", []int64{1, 1, 1, 1}, 1)),
			"stride 4611686018427387904 is more than 2147483647", modelfile.ErrLimit},
		{"external_overflow", small(13, "x", nil, externalInit("w", []int64{1 << 40, 1 << 20}, big, big)),
			"shape [1099511627776 1048576] holds more than 2147483647 elements", modelfile.ErrLimit},
		{"external_offset_overflow", small(13, "x", nil, externalInit("w", []int64{4}, math.MaxInt64, 16)),
			"16 bytes at 9223372036854775807 do not fit the file (4096 bytes)", modelfile.ErrFormat},
		{"external_length", small(13, "x", nil, externalInit("w", []int64{4}, 0, 32)),
			"32 bytes for a tensor of 16", modelfile.ErrFormat},
		{"concat_doubling", small(13, "x", concat), "the constants folded at load pass 16777216", modelfile.ErrLimit},
		{"conv_pad_chain", small(13, x, convs, floatInit("one", []int64{1, 1, 1, 1}, 1)),
			"the plan's constants and buffers for one image pass 134217728", modelfile.ErrLimit},
		{"pad_chain", small(13, "pad15", pads, intsInit("pads", 0, 0, 1024, 1024, 0, 0, 1024, 1024)),
			"the plan's constants and buffers for one image pass 134217728", modelfile.ErrLimit},
		{"input_4096", wide, "shape [1 4096 4096 4096] holds more than 2147483647 elements", modelfile.ErrLimit},
		{"external_shared", small(13, "x", nil, shared...), `initializers "shared0" and "shared1": their external data overlap`, modelfile.ErrLimit},
		{"no_data", small(13, "x", nil, &onnx.TensorProto{Name: "none", Dims: []int64{1 << 30}, DataType: int32(onnx.TensorProto_FLOAT), RawData: []byte{}}),
			`tensor "none" of shape [1073741824] has 0 bytes of data, expected 4294967296`, modelfile.ErrFormat},
		{"gemm_alpha_nan", alpha, "attribute alpha is NaN; refused (--allow-nonfinite accepts it)", nil},
		{"bn_negative_epsilon", small(13, "bn", []*onnx.NodeProto{nodeOf("BatchNormalization", []string{"x", "s", "b", "m", "v"}, "bn", floatAttr("epsilon", -2))},
			floatInit("s", []int64{1}, 1), floatInit("b", []int64{1}, 0), floatInit("m", []int64{1}, 0), floatInit("v", []int64{1}, 1)),
			"attribute epsilon -2 is negative", modelfile.ErrFormat},
		{"bn_zero_variance", small(13, "bn", []*onnx.NodeProto{nodeOf("BatchNormalization", []string{"x", "s", "b", "m", "v"}, "bn", floatAttr("epsilon", 0))},
			floatInit("s", []int64{1}, 1), floatInit("b", []int64{1}, 0), floatInit("m", []int64{1}, 0), floatInit("v", []int64{1}, 0)),
			"variance 0 plus epsilon 0 at channel 0 is not positive", nil},
		{"gemm_c_broadcast", gemmC, "Gemm's C of shape [5 10] does not broadcast to the 1x10 result", modelfile.ErrFormat},
		{"softmax_zero_rows", zeroRows, "a run-time value of shape [0 1024] holds no values", nil},
	}
}

// hostileDir writes the hostile models' external data file into a new
// folder and returns it.
func hostileDir(tb testing.TB) string {
	dir := tb.TempDir()
	if err := os.WriteFile(filepath.Join(dir, hostileBin), make([]byte, hostileSize), 0o644); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// TestHostileModels: each model is refused in one line that names the
// file and the problem, with the error's kind, within issue 12's bounds.
func TestHostileModels(t *testing.T) {
	dir := hostileDir(t)
	for _, c := range hostileCases() {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.name+".onnx")
			writeModel(t, c.m, path)
			var err error
			testtool.Bounded(t, c.name, testtool.FuzzSeconds, func() { _, err = Open(path) })
			if err == nil || !strings.HasPrefix(err.Error(), "onnx: "+path+": ") || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("%v\nwant one line naming %s and %q", err, path, c.want)
			}
			if c.kind != nil && !errors.Is(err, c.kind) {
				t.Errorf("%v: not %v", err, c.kind)
			}
			for _, other := range []error{modelfile.ErrLimit, modelfile.ErrFormat} {
				if other != c.kind && errors.Is(err, other) {
					t.Errorf("%v: is %v too", err, other)
				}
			}
		})
	}
	// What non-finite weights may, non-finite attributes and scales may
	// with the same option.
	for _, c := range hostileCases() {
		if c.kind != nil || !strings.Contains(c.want, "not positive") && !strings.Contains(c.want, "NaN") {
			continue
		}
		path := filepath.Join(dir, c.name+".onnx")
		if _, err := OpenWith(path, modelfile.ReadOptions{AllowNonFinite: true}); err != nil {
			t.Errorf("%s with AllowNonFinite: %v", c.name, err)
		}
	}
}

// TestHostileFiles: the full-size files of reference/hostile.py for the
// compiler are refused as their small versions are.
func TestHostileFiles(t *testing.T) {
	cases := map[string]string{
		"reshape_overflow.onnx":    "dimension 7905747460161236407 is more than 2147483647",
		"maxpool_overflow.onnx":    "kernel size 4611686018427387904 is more than 2147483647",
		"external_overflow.onnx":   "holds more than 2147483647 elements",
		"concat_doubling.onnx":     "the constants folded at load pass",
		"conv_pad_chain.onnx":      "the plan's constants and buffers for one image pass",
		"pad_chain.onnx":           "the plan's constants and buffers for one image pass",
		"input_4096.onnx":          "holds more than 2147483647 elements",
		"external_shared.onnx":     "their external data overlap",
		"gemm_alpha_nan.onnx":      "attribute alpha is NaN",
		"bn_negative_epsilon.onnx": "attribute epsilon -2 is negative",
		"gemm_c_broadcast.onnx":    "does not broadcast to the 1x10 result",
		"softmax_zero_rows.onnx":   "holds no values",
	}
	names := []string{"external_overflow.bin", "external_shared.bin"}
	for name := range cases {
		names = append(names, name)
	}
	dir := testtool.HostileFiles(t, names...)
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			var err error
			testtool.Bounded(t, name, testtool.HostileSeconds, func() { _, err = Open(path) })
			if err == nil || !strings.HasPrefix(err.Error(), "onnx: "+path+": ") || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("%v\nwant one line naming %s and %q", err, path, want)
			}
		})
	}
}
