package backend

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/lenetkit/lenetkit/onnx"
)

func TestReduceRunTime(t *testing.T) {
	// x [N, 1, 2, 3]: over the rows' values (axis 3) and over the
	// rows (axis 2), with the axes' forms of each opset.
	cases := []struct {
		typ   string
		opset int64
		keep  int64
		axes  []int64
		want  []float32
	}{
		{"ReduceSum", 11, 1, []int64{3}, []float32{3, 12}},
		{"ReduceSum", 13, 0, []int64{-1}, []float32{3, 12}},
		{"ReduceMean", 13, 1, []int64{2}, []float32{1.5, 2.5, 3.5}},
		{"ReduceMean", 18, 0, []int64{1, 2}, []float32{1.5, 2.5, 3.5}},
		{"ReduceMax", 13, 1, []int64{2, 3}, []float32{5}},
		{"ReduceMax", 18, 1, nil, []float32{5}}, // all axes
	}
	for _, tc := range cases {
		b := &builder{rng: rand.New(rand.NewPCG(1, 2))}
		attrs := []*onnx.AttributeProto{intAttr("keepdims", tc.keep)}
		in := []string{"x"}
		switch {
		case tc.axes == nil:
		case tc.typ == "ReduceSum" && tc.opset >= 13 || tc.opset >= 18:
			in = append(in, b.ints(tc.axes...))
		default:
			attrs = append(attrs, ints("axes", tc.axes...))
		}
		b.node(tc.typ, in, "y", attrs...)
		p := mustOpen(t, graphModel(b, tc.opset, tensorInput("x", -1, 1, 2, 3)), Options{})
		if y := runOne(t, p, iota32(6)); !slices.Equal(y, tc.want) {
			t.Errorf("%s opset %d axes %v: got %v, want %v", tc.typ, tc.opset, tc.axes, y, tc.want)
		}
	}
}

func TestReduceBatchAxis(t *testing.T) {
	b := &builder{rng: rand.New(rand.NewPCG(1, 2))}
	b.node("ReduceSum", []string{"x"}, "y", ints("axes", 0), intAttr("keepdims", 0))
	m := graphModel(b, 11, tensorInput("x", -1, 1, 2, 3))
	if _, err := openModel(t, m, Options{}); !errors.Is(err, onnx.ErrUnsupported) {
		t.Errorf("ReduceSum dropping the batch: got %v, want unsupported", err)
	}
	p := mustOpen(t, m, Options{Shapes: map[string][]int{"x": {2, 1, 2, 3}}})
	y, err := p.Run([][]float32{iota32(12)})
	if err != nil {
		t.Fatal(err)
	}
	if want := []float32{6, 8, 10, 12, 14, 16}; !slices.Equal(y[0], want) {
		t.Errorf("got %v, want %v", y[0], want)
	}
	// With keepdims, reducing axis 0 of one image is the identity there.
	b = &builder{rng: rand.New(rand.NewPCG(1, 2))}
	b.node("ReduceMean", []string{"x"}, "y", ints("axes", 0, 3))
	mustOpen(t, graphModel(b, 13, tensorInput("x", -1, 1, 2, 3)), Options{})
}
