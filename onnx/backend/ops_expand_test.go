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
