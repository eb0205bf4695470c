package onnxtrain

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/lenetkit/lenetkit/onnx"
)

// opCase is one node under test: its operator, opset and attributes, its
// inputs, how many outputs it has, and the range its computed inputs are
// drawn from, away from the kinks where a derivative jumps.
type opCase struct {
	name   string
	opset  int64
	op     string
	attrs  onnx.Attrs
	args   []arg
	outs   int
	lo, hi float32
	kinks  []float32
}

// opCases cover every family this package adds beyond the seed's: each
// attribute, the opset-dependent forms (attributes that became inputs),
// broadcasting, and several outputs.
var opCases = []opCase{
	{name: "Selu", op: "Selu", args: []arg{x(2, 3, 4)}, kinks: []float32{0}},
	{name: "Selu/attrs", op: "Selu", attrs: onnx.Attrs{"alpha": aFloat(2), "gamma": aFloat(0.5)}, args: []arg{x(3, 4)}, kinks: []float32{0}},
	{name: "HardSigmoid", op: "HardSigmoid", args: []arg{x(4, 5)}, lo: -4, hi: 4, kinks: []float32{-2.5, 2.5}},
	{name: "HardSigmoid/attrs", op: "HardSigmoid", attrs: onnx.Attrs{"alpha": aFloat(0.5), "beta": aFloat(0.3)}, args: []arg{x(4, 5)}, kinks: []float32{-0.6, 1.4}},
	{name: "HardSwish", opset: 14, op: "HardSwish", args: []arg{x(4, 6)}, lo: -4, hi: 4, kinks: []float32{-3, 3}},
	{name: "Softplus", op: "Softplus", args: []arg{x(2, 3, 4)}},
	{name: "Erf", op: "Erf", args: []arg{x(2, 3, 4)}},
	{name: "Exp", op: "Exp", args: []arg{x(2, 5)}},
	{name: "Log", op: "Log", args: []arg{x(2, 5)}, lo: 0.3, hi: 3},
	{name: "Sqrt", op: "Sqrt", args: []arg{x(2, 5)}, lo: 0.3, hi: 3},
	{name: "Neg", op: "Neg", args: []arg{x(2, 5)}},
	{name: "Abs", op: "Abs", args: []arg{x(2, 5)}, kinks: []float32{0}},
	{name: "Reciprocal", op: "Reciprocal", args: []arg{x(2, 5)}, lo: 0.5, hi: 3},
	{name: "Pow/square", op: "Pow", args: []arg{x(2, 5), floats(nil, 2)}},
	{name: "Pow/cube", op: "Pow", args: []arg{x(2, 5), floats([]int{1}, 3)}},
	{name: "Pow/sqrt", op: "Pow", args: []arg{x(2, 5), floats(nil, 0.5)}, lo: 0.3, hi: 3},
	{name: "Pow/constant-tensor", op: "Pow", args: []arg{x(2, 3), floats([]int{3}, 1, 2, 3)}},
	{name: "Pow/computed-exponent", op: "Pow", args: []arg{x(2, 3), x(3)}, lo: 0.3, hi: 2},
	{name: "PRelu/channel", op: "PRelu", args: []arg{x(2, 3, 2, 2), x(3, 1, 1)}, kinks: []float32{0}},
	{name: "PRelu/one", op: "PRelu", args: []arg{x(2, 3, 2), x(1)}, kinks: []float32{0}},
	{name: "PRelu/constant", op: "PRelu", args: []arg{x(2, 3), floats([]int{3}, 0.1, 0.2, 0.3)}, kinks: []float32{0}},

	{name: "Sum/broadcast", op: "Sum", args: []arg{x(2, 3), x(3), x(2, 1)}},
	{name: "Sum/one", op: "Sum", args: []arg{x(2, 3)}},
	{name: "Sum/opset7", opset: 7, op: "Sum", args: []arg{x(2, 3), x(2, 3)}},
	{name: "Mean/broadcast", op: "Mean", args: []arg{x(2, 1, 3), x(4, 1), x(3)}},
	{name: "Max/broadcast", op: "Max", args: []arg{x(2, 3), x(2, 3), x(1, 3)}},
	{name: "Min/broadcast", op: "Min", args: []arg{x(3, 1), x(1, 4)}},

	{name: "Concat/axis1", op: "Concat", attrs: onnx.Attrs{"axis": aInt(1)}, args: []arg{x(2, 3, 2), x(2, 1, 2), floats([]int{2, 2, 2}, 1, 2, 3, 4, 5, 6, 7, 8)}},
	{name: "Concat/last", op: "Concat", attrs: onnx.Attrs{"axis": aInt(-1)}, args: []arg{x(2, 3), x(2, 2)}},
	{name: "Slice/steps", op: "Slice", args: []arg{x(3, 5, 4), ints(1, -1), ints(3, -6), ints(0, 1), ints(1, -2)}},
	{name: "Slice/no-axes", op: "Slice", args: []arg{x(3, 5), ints(0, 1), ints(2, 100)}},
	{name: "Slice/opset9", opset: 9, op: "Slice", attrs: onnx.Attrs{"starts": aInts(1), "ends": aInts(3), "axes": aInts(2)}, args: []arg{x(2, 3, 4)}},
	{name: "Split/input", op: "Split", attrs: onnx.Attrs{"axis": aInt(1)}, args: []arg{x(2, 4, 3), ints(1, 3)}, outs: 2},
	{name: "Split/attribute", opset: 11, op: "Split", attrs: onnx.Attrs{"axis": aInt(-1), "split": aInts(2, 1)}, args: []arg{x(2, 3)}, outs: 2},
	{name: "Split/equal", op: "Split", args: []arg{x(6, 2)}, outs: 3},
	{name: "Split/num_outputs", opset: 18, op: "Split", attrs: onnx.Attrs{"axis": aInt(1), "num_outputs": aInt(2)}, args: []arg{x(2, 5)}, outs: 2},
	{name: "Gather/axis1", op: "Gather", attrs: onnx.Attrs{"axis": aInt(1)}, args: []arg{x(2, 3, 4), {k: &onnx.Tensor{DType: onnx.Int64, Shape: []int{2, 2}, Int: []int64{0, 2, 2, -1}}}}},
	{name: "Gather/scalar", op: "Gather", attrs: onnx.Attrs{"axis": aInt(-1)}, args: []arg{x(2, 3, 4), {k: &onnx.Tensor{DType: onnx.Int64, Int: []int64{1}}}}},
	{name: "Expand/up", op: "Expand", args: []arg{x(3, 1), ints(2, 1, 4)}},
	{name: "Expand/both", op: "Expand", args: []arg{x(1, 4), ints(3, 1)}},

	{name: "ReduceSum/input", op: "ReduceSum", args: []arg{x(2, 3, 4), ints(1)}},
	{name: "ReduceSum/two-axes", op: "ReduceSum", attrs: onnx.Attrs{"keepdims": aInt(0)}, args: []arg{x(2, 3, 4), ints(0, -1)}},
	{name: "ReduceSum/attribute", opset: 11, op: "ReduceSum", attrs: onnx.Attrs{"axes": aInts(2)}, args: []arg{x(2, 3, 4)}},
	{name: "ReduceSum/noop", op: "ReduceSum", attrs: onnx.Attrs{"noop_with_empty_axes": aInt(1)}, args: []arg{x(2, 3)}},
	{name: "ReduceMean/attribute", op: "ReduceMean", attrs: onnx.Attrs{"axes": aInts(2, 3), "keepdims": aInt(0)}, args: []arg{x(2, 3, 2, 2)}},
	{name: "ReduceMean/input", opset: 18, op: "ReduceMean", args: []arg{x(2, 3, 2), ints(1)}},
	{name: "ReduceMax/axis", op: "ReduceMax", attrs: onnx.Attrs{"axes": aInts(1)}, args: []arg{x(2, 5, 3)}},
	{name: "ReduceMax/all", op: "ReduceMax", args: []arg{x(2, 3, 2)}},
	{name: "GlobalMaxPool", op: "GlobalMaxPool", args: []arg{x(2, 3, 4, 5)}},

	{name: "LRN/odd", op: "LRN", attrs: onnx.Attrs{"size": aInt(3), "alpha": aFloat(0.05), "beta": aFloat(0.75), "bias": aFloat(1)}, args: []arg{x(2, 5, 3, 3)}},
	{name: "LRN/even", op: "LRN", attrs: onnx.Attrs{"size": aInt(4), "alpha": aFloat(0.1), "beta": aFloat(0.5), "bias": aFloat(2)}, args: []arg{x(1, 6, 2)}},
	{name: "MeanVarianceNormalization/each-image", op: "MeanVarianceNormalization", attrs: onnx.Attrs{"axes": aInts(1, 2, 3)}, args: []arg{x(2, 3, 2, 2)}},
	{name: "MeanVarianceNormalization/default", op: "MeanVarianceNormalization", args: []arg{x(2, 3, 2, 2)}},
	{name: "ReduceMin/axis", op: "ReduceMin", attrs: onnx.Attrs{"axes": aInts(1)}, args: []arg{x(2, 5, 3)}},
	{name: "InstanceNormalization", op: "InstanceNormalization", attrs: onnx.Attrs{"epsilon": aFloat(1e-3)}, args: []arg{x(2, 3, 3, 3), x(3), x(3)}},
	{name: "LayerNormalization/last", opset: 17, op: "LayerNormalization", args: []arg{x(2, 3, 5), x(5), x(5)}},
	{name: "LayerNormalization/axis1", opset: 17, op: "LayerNormalization", attrs: onnx.Attrs{"axis": aInt(1)}, args: []arg{x(2, 3, 4), x(3, 4)}},
	{name: "LayerNormalization/one-scale", opset: 17, op: "LayerNormalization", attrs: onnx.Attrs{"epsilon": aFloat(1e-3)}, args: []arg{x(3, 4), floats([]int{1}, 1.5), x(1, 4)}},

	{name: "Cast/float", op: "Cast", attrs: onnx.Attrs{"to": aInt(int64(onnx.Float))}, args: []arg{x(2, 3)}},
}

// draw fills n values from c's range, away from its kinks.
func (c opCase) draw(rng *rand.Rand, n int) []float32 {
	lo, hi := c.lo, c.hi
	if lo == 0 && hi == 0 {
		lo, hi = -2, 2
	}
	v := make([]float32, n)
	for i := range v {
	again:
		v[i] = lo + (hi-lo)*rng.Float32()
		for _, k := range c.kinks {
			if v[i] > k-0.02 && v[i] < k+0.02 {
				goto again
			}
		}
	}
	return v
}

func (c opCase) model() *onnx.Model {
	opset := c.opset
	if opset == 0 {
		opset = 13
	}
	return nodeModel(opset, c.op, c.attrs, c.args, max(c.outs, 1))
}

func (c opCase) inputs(seed uint64) map[string][]float32 {
	rng := rand.New(rand.NewPCG(seed, 11))
	in := map[string][]float32{}
	for _, v := range c.model().Graph.Inputs {
		in[v.Name] = c.draw(rng, size(v.Shape()))
	}
	return in
}

// TestLayerGradients checks every case's gradients, for every computed
// input, against central differences of sum(w * y).
func TestLayerGradients(t *testing.T) {
	for i, c := range opCases {
		t.Run(c.name, func(t *testing.T) {
			h, err := build(c.model(), c.inputs(uint64(i)), nil, true)
			if err != nil {
				t.Fatal(err)
			}
			defer h.close()
			h.checkGradients(t, 2e-4)
		})
	}
}

// TestLayersMatchBackend runs every case forward through the training
// graph and through the inference backend: two implementations of each
// operator, attributes and opset forms read by each.
func TestLayersMatchBackend(t *testing.T) {
	for i, c := range opCases {
		t.Run(c.name, func(t *testing.T) {
			m, in := c.model(), c.inputs(uint64(i))
			want, err := backendOutputs(t, m, in)
			if err != nil {
				t.Fatalf("backend: %v", err)
			}
			h, err := build(m, in, nil, false)
			if err != nil {
				t.Fatal(err)
			}
			defer h.close()
			if err := h.run(); err != nil {
				t.Fatal(err)
			}
			for k, w := range want {
				got := h.output(k)
				if len(got) != len(w) {
					t.Fatalf("output %d: %d values, backend %d", k, len(got), len(w))
				}
				for j := range w {
					if !closeTo(got[j], w[j], 1e-5, 1e-6) {
						t.Errorf("output %d [%d]: %g, backend %g", k, j, got[j], w[j])
					}
				}
			}
		})
	}
}

// TestShapeArithmeticFolds: Slice, Split and Expand of a Shape's output
// are evaluated while the graph is built, integers exactly, as exporters'
// flatten chains (Shape, Slice, Concat with -1, Reshape) need.
func TestShapeArithmeticFolds(t *testing.T) {
	k := func(v ...int64) *onnx.Tensor { return &onnx.Tensor{DType: onnx.Int64, Shape: []int{len(v)}, Int: v} }
	g := &onnx.Graph{
		Initializers: map[string]*onnx.Tensor{"zero": k(0), "one": k(1), "minus": k(-1), "two": k(2), "parts": k(1, 2)},
		Inputs:       []*onnx.Value{{Name: "x", DType: onnx.Float, Dims: []int64{2, 3, 4}}},
		Outputs:      []*onnx.Value{{Name: "y"}, {Name: "rest"}, {Name: "e"}},
		Nodes: []*onnx.Node{
			{OpType: "Shape", Inputs: []string{"x"}, Outputs: []string{"s"}},
			{OpType: "Slice", Inputs: []string{"s", "zero", "one"}, Outputs: []string{"n"}},
			{OpType: "Split", Inputs: []string{"s", "parts"}, Outputs: []string{"first", "rest"}},
			{OpType: "Expand", Inputs: []string{"n", "two"}, Outputs: []string{"e"}},
			{OpType: "Concat", Attrs: onnx.Attrs{"axis": aInt(0)}, Inputs: []string{"n", "minus"}, Outputs: []string{"c"}},
			{OpType: "Reshape", Inputs: []string{"x", "c"}, Outputs: []string{"y"}},
		},
	}
	in := make([]float32, 24)
	for i := range in {
		in[i] = float32(i)
	}
	h, err := build(&onnx.Model{Opset: 13, Graph: g}, map[string][]float32{"x": in}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer h.close()
	if err := h.run(); err != nil {
		t.Fatal(err)
	}
	if s := h.outs[0].shape; !slices.Equal(s, []int{2, 12}) {
		t.Errorf("Reshape to %v, want [2 12]", s)
	}
	for i, want := range [][]int64{{3, 4}, {2, 2}} {
		if k := h.outs[i+1].konst; k == nil || k.DType != onnx.Int64 || !slices.Equal(k.Int, want) {
			t.Errorf("output %d: %+v, want the integers %v", i+1, k, want)
		}
	}
}
