package onnx

import (
	"errors"
	"testing"

	"github.com/lenetkit/lenetkit/modelfile"
)

// TestUpgradeTo13Malformed: a graph no file decodes to (a Softmax without
// an output, a Clip without an input) is refused as a format error, not a
// panic, and the model is left as it was.
func TestUpgradeTo13Malformed(t *testing.T) {
	for _, n := range []*Node{
		{OpType: "Softmax", Inputs: []string{"x"}},
		{OpType: "Softmax", Outputs: []string{"y"}, Attrs: Attrs{"axis": {Type: AttributeProto_INT, Int: 0}}},
	} {
		m := &Model{Opset: 9, Opsets: map[string]int64{"": 9}, Graph: &Graph{Initializers: map[string]*Tensor{}, Nodes: []*Node{n}}}
		if err := UpgradeTo13(m); !errors.Is(err, modelfile.ErrFormat) || m.Opset != 9 {
			t.Errorf("%+v: %v, opset %d after", n, err, m.Opset)
		}
	}
	clip := &Model{Opset: 9, Graph: &Graph{Initializers: map[string]*Tensor{}, Nodes: []*Node{{OpType: "Clip", Outputs: []string{"y"},
		Attrs: Attrs{"max": {Type: AttributeProto_FLOAT, Float: 6}}}}}}
	if err := UpgradeTo13(clip); err != nil || len(clip.Graph.Nodes[0].Inputs) != 3 || clip.Graph.Nodes[0].Inputs[1] != "" {
		t.Errorf("a Clip without its input: %v, inputs %q", err, clip.Graph.Nodes[0].Inputs)
	}
}
