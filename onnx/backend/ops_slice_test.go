package backend

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/lenetkit/lenetkit/onnx"
)

// iota32 is 0, 1, ... n-1.
func iota32(n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(i)
	}
	return x
}

// runOne classifies one image through a plan and returns its outputs.
func runOne(t *testing.T, p *Plan, x []float32) []float32 {
	t.Helper()
	y := make([]float32, p.Outputs)
	if err := p.Logits(y, x, 1); err != nil {
		t.Fatal(err)
	}
	return y
}

func TestSliceRunTime(t *testing.T) {
	// x [N, 2, 3, 4]: channel 1, rows reversed, every other column from 1.
	for _, opset := range []int64{9, 13} {
		b := &builder{rng: rand.New(rand.NewPCG(1, 2))}
		if opset < 10 {
			b.node("Slice", []string{"x"}, "y", ints("starts", 1, -1, 1), ints("ends", 2, -100, 4), ints("axes", 1, 2, 3))
			// opset 9 has no steps: reverse nothing, take rows 2.. instead.
			b.nodes[0].Attribute[0] = ints("starts", 1, 2, 1)
			b.nodes[0].Attribute[1] = ints("ends", 2, 3, 4)
		} else {
			b.node("Slice", []string{"x", b.ints(1, -1, 1), b.ints(2, -100, 1<<62), b.ints(1, 2, -1), b.ints(1, -1, 2)}, "y")
		}
		p := mustOpen(t, graphModel(b, opset, tensorInput("x", -1, 2, 3, 4)), Options{})
		y := runOne(t, p, iota32(24))
		want := []float32{21, 23, 17, 19, 13, 15}
		if opset < 10 {
			want = []float32{21, 22, 23}
		}
		if !slices.Equal(y, want) {
			t.Errorf("opset %d: got %v, want %v", opset, y, want)
		}
	}
}

func TestSplitRunTime(t *testing.T) {
	b := &builder{rng: rand.New(rand.NewPCG(1, 2))}
	b.nodes = append(b.nodes, &onnx.NodeProto{OpType: "Split", Input: []string{"x", b.ints(1, 3)}, Output: []string{"a", "c"},
		Attribute: []*onnx.AttributeProto{intAttr("axis", -1)}})
	b.node("Mul", []string{"c", "c"}, "c2")
	b.node("Add", []string{"a", "c2"}, "y") // a broadcast along the rows
	p := mustOpen(t, graphModel(b, 13, tensorInput("x", -1, 1, 2, 4)), Options{})
	y := runOne(t, p, iota32(8))
	// a = [0], [4]; c2 = squares of 1..3 and 5..7.
	want := []float32{1, 4, 9, 29, 40, 53}
	if !slices.Equal(y, want) {
		t.Errorf("got %v, want %v", y, want)
	}
}

// Shape arithmetic as tf2onnx writes it: Shape -> Slice -> Concat ->
// Reshape, folded at load.
func TestSliceFoldsShapes(t *testing.T) {
	b := &builder{rng: rand.New(rand.NewPCG(1, 2))}
	b.node("Shape", []string{"x"}, "s")
	b.node("Slice", []string{"s", b.ints(0), b.ints(1), b.ints(0)}, "n")
	b.node("Concat", []string{"n", b.ints(-1)}, "shape", intAttr("axis", 0))
	b.node("Reshape", []string{"x", "shape"}, "y")
	p := mustOpen(t, graphModel(b, 13, tensorInput("x", -1, 2, 3, 4)), Options{})
	if p.Outputs != 24 || len(p.steps) != 0 {
		t.Errorf("%d outputs in %d steps, want 24 in 0", p.Outputs, len(p.steps))
	}
}

func TestSliceSplitBatchAxis(t *testing.T) {
	for name, node := range map[string]func(b *builder){
		"Slice": func(b *builder) { b.node("Slice", []string{"x", b.ints(1), b.ints(2), b.ints(0)}, "y") },
		"Split": func(b *builder) {
			b.nodes = append(b.nodes, &onnx.NodeProto{OpType: "Split", Input: []string{"x"}, Output: []string{"y", "z"}})
		},
	} {
		b := &builder{rng: rand.New(rand.NewPCG(1, 2))}
		node(b)
		m := graphModel(b, 13, tensorInput("x", -1, 2, 3, 4))
		if _, err := openModel(t, m, Options{}); !errors.Is(err, onnx.ErrUnsupported) {
			t.Errorf("%s over the batch: got %v, want unsupported", name, err)
		}
		if _, err := openModel(t, m, Options{Shapes: map[string][]int{"x": {2, 2, 3, 4}}}); err != nil {
			t.Errorf("%s of whole tensors: %v", name, err)
		}
	}
	// The identity on axis 0 is allowed.
	b := &builder{rng: rand.New(rand.NewPCG(1, 2))}
	b.node("Slice", []string{"x", b.ints(0, 1), b.ints(1<<40, 2), b.ints(0, 1)}, "y")
	mustOpen(t, graphModel(b, 13, tensorInput("x", -1, 2, 3, 4)), Options{})
}
