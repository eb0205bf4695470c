package onnx

import (
	"slices"
	"testing"
)

func TestFuseConvBias(t *testing.T) {
	graph := func(addShape []int, extraUse bool) *Graph {
		g := &Graph{Initializers: map[string]*Tensor{
			"w": {DType: Float, Shape: []int{2, 1, 3, 3}, Float: make([]float32, 18)},
			"b": {DType: Float, Shape: []int{2}, Float: []float32{1, 2}},
			"t": {DType: Float, Shape: addShape, Float: []float32{10, 20}},
		}, Inputs: []*Value{{Name: "x"}}, Outputs: []*Value{{Name: "y"}}}
		g.Nodes = []*Node{
			{Name: "conv", OpType: "Conv", Inputs: []string{"x", "w", "b"}, Outputs: []string{"c"}},
			{Name: "plus", OpType: "Add", Inputs: []string{"t", "c"}, Outputs: []string{"y"}},
		}
		if extraUse {
			g.Nodes = append(g.Nodes, &Node{OpType: "Relu", Inputs: []string{"c"}, Outputs: []string{"r"}})
		}
		return g
	}
	g := graph([]int{2, 1, 1}, false)
	if got := FuseConvBias(g); len(got) != 1 || !slices.Equal(got[0], []string{"conv", "plus"}) || len(g.Nodes) != 1 {
		t.Fatalf("fused %v, %d nodes left; want conv + plus, one node", got, len(g.Nodes))
	}
	conv := g.Nodes[0]
	if bias := g.Initializers[conv.Inputs[2]]; conv.Outputs[0] != "y" || !slices.Equal(bias.Float, []float32{11, 22}) {
		t.Errorf("conv writes %q with bias %v; want y with [11 22]", conv.Outputs[0], bias.Float)
	}
	for _, c := range []struct {
		name  string
		shape []int
		extra bool
	}{
		{"an Add along the width", []int{2}, false},
		{"a Conv output read twice", []int{2, 1, 1}, true},
	} {
		g := graph(c.shape, c.extra)
		if got := FuseConvBias(g); len(got) != 0 {
			t.Errorf("%s: fused %v", c.name, got)
		}
	}
}
