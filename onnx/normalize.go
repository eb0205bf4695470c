package onnx

import (
	"errors"
	"fmt"
	"slices"
)

// Normalize returns a copy of m rewritten into forms that onnx-go v0.5.0's
// Gorgonia backend (gorgonnx) runs, computing the same function; m itself is
// not changed. It is meant for handing a model to onnx-go: where a rewrite
// uses a form its opset no longer has (axes as an attribute from opset 13
// on), the copy is no longer a valid model of its declared opset.
//
// The rewrites, in order:
//
//  1. An Unsqueeze whose only user is a Squeeze of the same axes is removed
//     together with that Squeeze. torch.onnx.export writes this pair around
//     Dropout1d, which is the identity at inference, and from opset 13 on
//     gorgonnx cannot run either node (rewrite 2). Removing the pair keeps
//     the model valid at every opset.
//  2. A Squeeze or Unsqueeze whose axes are its second input (opset 13 on)
//     gets them as the axes attribute instead: gorgonnx reads only the
//     attribute and fails with "axes in not an []int64".
//  3. A Dropout with ratio or training_mode inputs (opset 12 on) and
//     training off becomes an Identity: gorgonnx's Dropout accepts exactly
//     one input, although at inference it is the identity anyway.
//  4. A MaxPool dilations attribute of all ones, the default, is dropped:
//     gorgonnx refuses any dilations attribute.
//  5. Constant nodes and initializers that nothing uses any more after these
//     rewrites are removed, so that gorgonnx does not build dangling nodes.
//
// It fails when a rewrite the graph needs cannot be made: axes computed at
// run time, a Dropout in training mode or whose mask is used.
func Normalize(m *ModelProto) (*ModelProto, error) {
	b, err := m.Marshal()
	if err != nil {
		return nil, fmt.Errorf("onnx: normalize: %w", err)
	}
	out := &ModelProto{}
	if err := out.Unmarshal(b); err != nil {
		return nil, fmt.Errorf("onnx: normalize: %w", err)
	}
	if out.Graph == nil {
		return nil, errors.New("onnx: normalize: the model has no graph")
	}
	if err := normalizeGraph(out.Graph); err != nil {
		return nil, fmt.Errorf("onnx: normalize: %w", err)
	}
	return out, nil
}

func normalizeGraph(g *GraphProto) error {
	consts := constants(g)
	if err := removeIdentityPairs(g, consts); err != nil {
		return err
	}
	used := usedValues(g)
	for _, n := range g.Node {
		if !isDefaultDomain(n.Domain) {
			continue
		}
		switch n.OpType {
		case "Squeeze", "Unsqueeze":
			axes, fromInput, err := squeezeAxes(n, consts)
			if err != nil {
				return err
			}
			if fromInput { // rewrite 2
				n.Input = n.Input[:1]
				n.Attribute = append(n.Attribute, attrInts("axes", axes...))
			}
		case "Dropout":
			if len(n.Input) > 1 { // rewrite 3
				if err := inferenceDropout(n, consts); err != nil {
					return fmt.Errorf("Dropout %q: %w", n.Name, err)
				}
				if len(n.Output) > 1 && used[n.Output[1]] {
					return fmt.Errorf("Dropout %q: its mask is used", n.Name)
				}
				n.OpType, n.Input, n.Output, n.Attribute = "Identity", n.Input[:1], n.Output[:1], nil
			}
		case "MaxPool":
			if d, err := intsAttr(n, "dilations"); err == nil && d != nil && allOnes(d) { // rewrite 4
				n.Attribute = slices.DeleteFunc(n.Attribute, func(a *AttributeProto) bool { return a.Name == "dilations" })
			}
		}
	}
	removeUnused(g)
	return nil
}

// removeIdentityPairs does rewrite 1. The Squeeze's users are rewired to the
// Unsqueeze's input; when the Squeeze's output is a graph output, whose
// name must stay, the pair becomes one Identity node instead.
func removeIdentityPairs(g *GraphProto, consts map[string]*TensorProto) error {
	users := map[string][]*NodeProto{}
	for _, n := range g.Node {
		for _, in := range n.Input {
			users[in] = append(users[in], n)
		}
	}
	outputs := map[string]bool{}
	for _, o := range g.Output {
		outputs[o.Name] = true
	}
	drop := map[*NodeProto]bool{}
	for _, u := range g.Node {
		if u.OpType != "Unsqueeze" || !isDefaultDomain(u.Domain) || len(u.Input) == 0 || len(u.Output) != 1 {
			continue
		}
		us := users[u.Output[0]]
		if len(us) != 1 || outputs[u.Output[0]] {
			continue
		}
		s := us[0]
		if s.OpType != "Squeeze" || !isDefaultDomain(s.Domain) || s.Input[0] != u.Output[0] || len(s.Output) != 1 {
			continue
		}
		ua, _, err := squeezeAxes(u, consts)
		if err != nil {
			return err
		}
		sa, _, err := squeezeAxes(s, consts)
		if err != nil {
			return err
		}
		if !sameAxes(ua, sa) {
			continue
		}
		src, dst := u.Input[0], s.Output[0]
		if outputs[dst] {
			*s = NodeProto{Name: s.Name, OpType: "Identity", Input: []string{src}, Output: []string{dst}}
			drop[u] = true
			continue
		}
		for _, n := range users[dst] {
			for i, in := range n.Input {
				if in == dst {
					n.Input[i] = src
				}
			}
		}
		users[src] = append(users[src], users[dst]...)
		drop[u], drop[s] = true, true
	}
	g.Node = slices.DeleteFunc(g.Node, func(n *NodeProto) bool { return drop[n] })
	return nil
}

// removeUnused does rewrite 5.
func removeUnused(g *GraphProto) {
	used := usedValues(g)
	inputs := map[string]bool{}
	for _, v := range g.Input {
		inputs[v.Name] = true
	}
	g.Node = slices.DeleteFunc(g.Node, func(n *NodeProto) bool {
		return n.OpType == "Constant" && isDefaultDomain(n.Domain) && len(n.Output) == 1 && !used[n.Output[0]]
	})
	g.Initializer = slices.DeleteFunc(g.Initializer, func(t *TensorProto) bool {
		return !used[t.Name] && !inputs[t.Name]
	})
}

// usedValues lists the values that nodes take or the graph outputs.
func usedValues(g *GraphProto) map[string]bool {
	used := map[string]bool{}
	for _, n := range g.Node {
		for _, in := range n.Input {
			used[in] = true
		}
	}
	for _, v := range g.Output {
		used[v.Name] = true
	}
	return used
}

func allOnes(v []int64) bool {
	for _, x := range v {
		if x != 1 {
			return false
		}
	}
	return true
}
