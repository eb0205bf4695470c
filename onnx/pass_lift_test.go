package onnx

import (
	"slices"
	"testing"
)

// TestLiftWeights: the Constant nodes paddle2onnx writes for a layer's
// weights become initializers of their names; a constant that is also
// read otherwise, or only as arithmetic, stays a node.
func TestLiftWeights(t *testing.T) {
	constant := func(name string, v ...float32) *Node {
		return &Node{Name: name, OpType: "Constant", Outputs: []string{name},
			Attrs: Attrs{"value": {Type: AttributeProto_TENSOR, Tensor: &Tensor{DType: Float, Shape: []int{len(v)}, Float: v}}}}
	}
	g := &Graph{Initializers: map[string]*Tensor{}, Inputs: []*Value{{Name: "x"}}, Outputs: []*Value{{Name: "y"}}}
	g.Nodes = []*Node{
		constant("conv.w", 1, 2), constant("conv.b", 3), constant("fc.w", 4, 5), constant("fc.b", 6),
		constant("half", 0.5), constant("shared", 7),
		{OpType: "Conv", Inputs: []string{"x", "conv.w", "conv.b"}, Outputs: []string{"c"}},
		{OpType: "Mul", Inputs: []string{"c", "half"}, Outputs: []string{"m"}},
		{OpType: "MatMul", Inputs: []string{"m", "fc.w"}, Outputs: []string{"f"}},
		{OpType: "Add", Inputs: []string{"fc.b", "f"}, Outputs: []string{"a"}},
		{OpType: "Add", Inputs: []string{"a", "shared"}, Outputs: []string{"s"}}, // not after a layer
		{OpType: "MatMul", Inputs: []string{"s", "shared"}, Outputs: []string{"y"}},
	}
	lifted := LiftWeights(g)
	slices.Sort(lifted)
	if want := []string{"conv.b", "conv.w", "fc.b", "fc.w"}; !slices.Equal(lifted, want) {
		t.Errorf("lifted %v, want %v", lifted, want)
	}
	var left []string
	for _, n := range g.Nodes {
		if n.OpType == "Constant" {
			left = append(left, n.Outputs[0])
		}
	}
	if !slices.Equal(left, []string{"half", "shared"}) || len(g.Nodes) != 8 {
		t.Errorf("Constant nodes left %v of %d nodes; want half and shared of 8", left, len(g.Nodes))
	}
	if w := g.Initializers["fc.w"]; w == nil || w.Name != "fc.w" || !slices.Equal(w.Float, []float32{4, 5}) {
		t.Errorf("initializer fc.w %+v", w)
	}
}
