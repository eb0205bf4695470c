package onnx

import (
	"errors"
	"fmt"
	"slices"
)

// constants maps the names of a graph's constant values, its initializers
// and the outputs of its Constant nodes, to their tensors.
func constants(g *GraphProto) map[string]*TensorProto {
	c := make(map[string]*TensorProto, len(g.Initializer))
	for _, t := range g.Initializer {
		c[t.Name] = t
	}
	for _, n := range g.Node {
		if n.OpType == "Constant" && isDefaultDomain(n.Domain) && len(n.Output) == 1 {
			if a := findAttr(n, "value"); a != nil && a.T != nil {
				c[n.Output[0]] = a.T
			}
		}
	}
	return c
}

func isDefaultDomain(d string) bool { return d == "" || d == "ai.onnx" }

// squeezeAxes returns the axes of a Squeeze or Unsqueeze node: its axes
// attribute up to opset 12, its second input, a constant, from opset 13 on.
// fromInput says which.
func squeezeAxes(n *NodeProto, consts map[string]*TensorProto) (axes []int64, fromInput bool, err error) {
	if len(n.Input) >= 2 && n.Input[1] != "" {
		t, ok := consts[n.Input[1]]
		if !ok {
			return nil, true, fmt.Errorf("%s axes %q are computed, not a constant", n.OpType, n.Input[1])
		}
		axes, err := int64s(t)
		return axes, true, err
	}
	axes, err = intsAttr(n, "axes")
	return axes, false, err
}

// sameAxes reports whether a Squeeze with axes s undoes an Unsqueeze with
// axes u. Negative axes of both count from the end of the same, unsqueezed,
// shape, so equal sets of axes as written always cancel; a mix of signs that
// names the same axes is not recognised (it would take the rank), and a
// Squeeze without axes removes every dimension of size 1, which may be more
// than the Unsqueeze added.
func sameAxes(u, s []int64) bool {
	if len(u) == 0 || len(u) != len(s) {
		return false
	}
	u, s = slices.Clone(u), slices.Clone(s)
	slices.Sort(u)
	slices.Sort(s)
	return slices.Equal(u, s) && len(slices.Compact(u)) == len(s)
}

// inferenceDropout checks that a Dropout node is the identity: it has no
// training_mode input (opset 12 on), or a constant false one.
func inferenceDropout(n *NodeProto, consts map[string]*TensorProto) error {
	if len(n.Input) < 3 || n.Input[2] == "" {
		return nil
	}
	t, ok := consts[n.Input[2]]
	if ok && t.DataType == int32(TensorProto_BOOL) {
		if k, err := elements(t); err == nil && k == 1 &&
			((len(t.RawData) == 1 && t.RawData[0] == 0) || (t.RawData == nil && len(t.Int32Data) == 1 && t.Int32Data[0] == 0)) {
			return nil
		}
	}
	return errors.New("training_mode is not a constant false")
}
