package onnx

import (
	"errors"
	"fmt"
	"slices"
)

// constants maps the names of the graph's constant values, its initializers
// and the outputs of its Constant nodes, to their tensors. A Constant whose
// value lenetkit does not read is left out: its users find no constant.
func (g *Graph) constants() map[string]*Tensor {
	c := make(map[string]*Tensor, len(g.Initializers))
	for name, t := range g.Initializers {
		c[name] = t
	}
	for _, n := range g.Nodes {
		if n.OpType != "Constant" || n.Domain != "" || len(n.Outputs) != 1 {
			continue
		}
		if t, err := n.Attrs.ConstantValue(); err == nil && t != nil {
			c[n.Outputs[0]] = t
		}
	}
	return c
}

func isDefaultDomain(d string) bool { return d == "" || d == "ai.onnx" }

// squeezeAxes returns the axes of a Squeeze or Unsqueeze node: its axes
// attribute up to opset 12, its second input, a constant, from opset 13 on.
// fromInput says which.
func (n *Node) squeezeAxes(consts map[string]*Tensor) (axes []int64, fromInput bool, err error) {
	if in := n.Input(1); in != "" {
		t, ok := consts[in]
		if !ok {
			return nil, true, fmt.Errorf("%s axes %q are computed, not a constant", n.OpType, in)
		}
		if t.DType != Int64 {
			return nil, true, fmt.Errorf("tensor %q is %s, expected INT64", t.Name, t.DType)
		}
		return t.Int, true, nil
	}
	axes, err = n.Attrs.Ints("axes")
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
func (n *Node) inferenceDropout(consts map[string]*Tensor) error {
	in := n.Input(2)
	if in == "" {
		return nil
	}
	if t, ok := consts[in]; ok && t.DType == Bool && len(t.Int) == 1 && t.Int[0] == 0 {
		return nil
	}
	return errors.New("training_mode is not a constant false")
}
