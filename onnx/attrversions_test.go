package onnx

import "testing"

// TestStrayAttributes: an attribute is stray before the opset it came in
// and from the opset it left at, and only there.
func TestStrayAttributes(t *testing.T) {
	cases := []struct {
		op, attr string
		opset    int64
		stray    bool
	}{
		{"DequantizeLinear", "axis", 12, true},
		{"DequantizeLinear", "axis", 13, false},
		{"Squeeze", "axes", 12, false},
		{"Squeeze", "axes", 13, true},
		{"Clip", "min", 10, false},
		{"Clip", "min", 11, true},
		{"BatchNormalization", "spatial", 8, false},
		{"BatchNormalization", "spatial", 9, true},
		{"BatchNormalization", "epsilon", 9, false},
		{"MaxPool", "ceil_mode", 9, true},
		{"ReduceMean", "axes", 18, true},
		{"Conv", "axes", 13, false}, // not known here: left to the operator
	}
	for _, c := range cases {
		n := &Node{OpType: c.op, Attrs: Attrs{c.attr: {Type: AttributeProto_INT}}}
		got := StrayAttributes(&Model{Opset: c.opset, Graph: &Graph{Nodes: []*Node{n}}})
		if (len(got) == 1) != c.stray || len(got) > 1 {
			t.Errorf("%s's %s at opset %d: %v, want stray %v", c.op, c.attr, c.opset, got, c.stray)
		}
	}
	n := &Node{OpType: "Squeeze", Domain: "com.example", Attrs: Attrs{"axes": {}}}
	if got := StrayAttributes(&Model{Opset: 13, Graph: &Graph{Nodes: []*Node{n}}}); got != nil {
		t.Errorf("another domain's Squeeze: %v", got)
	}
}
