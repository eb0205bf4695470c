package backend

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/lenetkit/lenetkit/onnx"
)

func TestExpandRunTime(t *testing.T) {
	// x [N, 3, 1, 1] to [1, 3, 1, 2]: each value twice; then Add a
	// ConstantOfShape [1, 3, 1, 2] of 0.5.
	b := &builder{rng: rand.New(rand.NewPCG(1, 2))}
	b.node("Expand", []string{"x", b.ints(3, 1, 2)}, "e")
	one := float32(0.5)
	b.node("ConstantOfShape", []string{b.ints(1, 3, 1, 2)}, "k", &onnx.AttributeProto{Name: "value", Type: onnx.AttributeProto_TENSOR,
		T: &onnx.TensorProto{Dims: []int64{1}, DataType: int32(onnx.TensorProto_FLOAT), FloatData: []float32{one}}})
	b.node("Add", []string{"e", "k"}, "y")
	p := mustOpen(t, graphModel(b, 13, tensorInput("x", -1, 3, 1, 1)), Options{})
	y := runOne(t, p, []float32{1, 2, 3})
	if want := []float32{1.5, 1.5, 2.5, 2.5, 3.5, 3.5}; !slices.Equal(y, want) {
		t.Errorf("got %v, want %v", y, want)
	}
}

func TestExpandBatchAxis(t *testing.T) {
	b := &builder{rng: rand.New(rand.NewPCG(1, 2))}
	b.node("Expand", []string{"x", b.ints(2, 3, 1, 1)}, "y")
	m := graphModel(b, 13, tensorInput("x", -1, 3, 1, 1))
	if _, err := openModel(t, m, Options{}); !errors.Is(err, onnx.ErrUnsupported) {
		t.Errorf("Expand over the batch: got %v, want unsupported", err)
	}
	p := mustOpen(t, m, Options{Shapes: map[string][]int{"x": {1, 3, 1, 1}}})
	y, err := p.Run([][]float32{{1, 2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []float32{1, 2, 3, 1, 2, 3}; !slices.Equal(y[0], want) {
		t.Errorf("got %v, want %v", y[0], want)
	}
}

func TestConstantOfShapeDefault(t *testing.T) {
	b := &builder{rng: rand.New(rand.NewPCG(1, 2))}
	b.node("ConstantOfShape", []string{b.ints(1, 4)}, "z")
	b.node("Add", []string{"x", "z"}, "y")
	p := mustOpen(t, graphModel(b, 13, tensorInput("x", -1, 1, 1, 4)), Options{})
	if y := runOne(t, p, []float32{1, 2, 3, 4}); !slices.Equal(y, []float32{1, 2, 3, 4}) {
		t.Errorf("got %v", y)
	}
}

// Hostile shapes and attributes are refused with an error, never a panic
// or an allocation beyond the plan's budget.
func TestShapeOpsHostile(t *testing.T) {
	const big = int64(1) << 62
	cases := map[string]func(b *builder){
		"Expand huge":     func(b *builder) { b.node("Expand", []string{"x", b.ints(1, 3, big, big)}, "y") },
		"Expand negative": func(b *builder) { b.node("Expand", []string{"x", b.ints(1, -3, 1, 1)}, "y") },
		"ConstantOfShape huge": func(b *builder) {
			b.node("ConstantOfShape", []string{b.ints(1<<20, 1<<20)}, "z")
			b.node("Add", []string{"x", "z"}, "y")
		},
		"ConstantOfShape run-time": func(b *builder) {
			b.node("ConstantOfShape", []string{"x"}, "y")
		},
		"Transpose bad perm": func(b *builder) { b.node("Transpose", []string{"x"}, "y", ints("perm", 0, 1, 1, 2)) },
		"Transpose short perm": func(b *builder) {
			b.node("Transpose", []string{"x"}, "y", ints("perm", 0, 1))
		},
		"Slice step 0":   func(b *builder) { b.node("Slice", []string{"x", b.ints(0), b.ints(2), b.ints(1), b.ints(0)}, "y") },
		"Slice repeated": func(b *builder) { b.node("Slice", []string{"x", b.ints(0, 0), b.ints(2, 2), b.ints(1, -3)}, "y") },
		"Slice extremes": func(b *builder) {
			b.node("Slice", []string{"x", b.ints(1<<63 - 1), b.ints(-1 << 63), b.ints(1), b.ints(-1 << 63)}, "y")
		},
		"Split too much": func(b *builder) {
			b.nodes = append(b.nodes, &onnx.NodeProto{OpType: "Split", Input: []string{"x", b.ints(2, 2)}, Output: []string{"y", "z"},
				Attribute: []*onnx.AttributeProto{intAttr("axis", 1)}})
		},
		"Split negative": func(b *builder) {
			b.nodes = append(b.nodes, &onnx.NodeProto{OpType: "Split", Input: []string{"x", b.ints(-1, 4)}, Output: []string{"y", "z"},
				Attribute: []*onnx.AttributeProto{intAttr("axis", 1)}})
		},
		"ReduceSum bad axis": func(b *builder) { b.node("ReduceSum", []string{"x", b.ints(4)}, "y") },
	}
	for name, build := range cases {
		b := &builder{rng: rand.New(rand.NewPCG(1, 2))}
		build(b)
		_, err := openModel(t, graphModel(b, 13, tensorInput("x", -1, 3, 2, 2)), Options{})
		if name == "Slice extremes" {
			// From the last row backwards by the most negative step: one row.
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: compiled, want an error", name)
		}
	}
}
