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
	consts, err := axesConstants(g)
	if err != nil {
		return err
	}
	if err := removeIdentityPairs(g, consts); err != nil {
		return err
	}
	used := usedValues(g)
	for i, p := range g.Node {
		if !isDefaultDomain(p.Domain) {
			continue
		}
		switch p.OpType {
		case "Squeeze", "Unsqueeze", "Dropout", "MaxPool":
		default:
			continue
		}
		n, err := decodeNode(i, p)
		if err != nil {
			return err
		}
		switch n.OpType {
		case "Squeeze", "Unsqueeze":
			axes, fromInput, err := n.squeezeAxes(consts)
			if err != nil {
				return err
			}
			if fromInput { // rewrite 2
				n.Attrs["axes"] = Attr{Type: AttributeProto_INTS, Ints: axes}
				if err := setAttrs(p, n.Attrs); err != nil {
					return err
				}
				p.Input = p.Input[:1]
			}
		case "Dropout":
			if len(p.Input) > 1 { // rewrite 3
				if err := n.inferenceDropout(consts); err != nil {
					return fmt.Errorf("Dropout %q: %w", p.Name, err)
				}
				if len(p.Output) > 1 && used[p.Output[1]] {
					return fmt.Errorf("Dropout %q: its mask is used", p.Name)
				}
				p.OpType, p.Input, p.Output, p.Attribute = "Identity", p.Input[:1], p.Output[:1], nil
			}
		case "MaxPool":
			if d, err := n.Attrs.Ints("dilations"); err == nil && d != nil && allOnes(d) { // rewrite 4
				delete(n.Attrs, "dilations")
				if err := setAttrs(p, n.Attrs); err != nil {
					return err
				}
			}
		}
	}
	removeUnused(g)
	return nil
}

// setAttrs replaces the attributes of p with a.
func setAttrs(p *NodeProto, a Attrs) error {
	attrs, err := encodeAttrs(a)
	if err != nil {
		return fmt.Errorf("%s %q: %w", p.OpType, p.Name, err)
	}
	p.Attribute = attrs
	return nil
}

// axesConstants decodes the constants that the rewrites read: the axes
// inputs of Squeeze and Unsqueeze and the training_mode inputs of Dropout,
// from initializers and Constant nodes. Other constants are left as they
// are, not decoded.
func axesConstants(g *GraphProto) (map[string]*Tensor, error) {
	want := map[string]bool{}
	for _, n := range g.Node {
		if !isDefaultDomain(n.Domain) {
			continue
		}
		i := 1
		switch n.OpType {
		case "Squeeze", "Unsqueeze":
		case "Dropout":
			i = 2
		default:
			continue
		}
		if i < len(n.Input) && n.Input[i] != "" {
			want[n.Input[i]] = true
		}
	}
	consts := map[string]*Tensor{}
	if len(want) == 0 {
		return consts, nil
	}
	for _, p := range g.Initializer {
		if want[p.Name] {
			t, err := DecodeTensor(p)
			if err != nil {
				return nil, fmt.Errorf("initializer %q: %w", p.Name, err)
			}
			consts[p.Name] = t
		}
	}
	for i, p := range g.Node {
		if p.OpType != "Constant" || !isDefaultDomain(p.Domain) || len(p.Output) != 1 || !want[p.Output[0]] {
			continue
		}
		n, err := decodeNode(i, p)
		if err != nil {
			return nil, err
		}
		if t, err := n.Attrs.ConstantValue(); err == nil && t != nil {
			consts[p.Output[0]] = t
		}
	}
	return consts, nil
}

// removeIdentityPairs does rewrite 1. The Squeeze's users are rewired to the
// Unsqueeze's input; when the Squeeze's output is a graph output, whose
// name must stay, the pair becomes one Identity node instead.
func removeIdentityPairs(g *GraphProto, consts map[string]*Tensor) error {
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
	index := make(map[*NodeProto]int, len(g.Node))
	for i, n := range g.Node {
		index[n] = i
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
		un, err := decodeNode(index[u], u)
		if err != nil {
			return err
		}
		sn, err := decodeNode(index[s], s)
		if err != nil {
			return err
		}
		ua, _, err := un.squeezeAxes(consts)
		if err != nil {
			return err
		}
		sa, _, err := sn.squeezeAxes(consts)
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
