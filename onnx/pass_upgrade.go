package onnx

import (
	"fmt"
	"slices"

	"github.com/lenetkit/lenetkit/modelfile"
)

// UpgradeOpset is the opset Upgrade rewrites older graphs to: the first
// with NumPy-style broadcasting, from which every reader of a Model works.
const UpgradeOpset = 7

// Upgrade rewrites a model of opset 1 to 6 (ONNX before 1.2: CNTK's,
// Caffe2's and the first PyTorch exporters' files) into the forms its
// nodes have at opset 7, which compute the same, and records the file's
// opset in m.Upgraded; later models are left alone. Decode runs it. The
// rewrites are those of ONNX's operator changelog; ONNX Runtime reads no
// opset before 7, and ONNX 1.12's version converter, which would write
// them, unsqueezes a broadcast operand without regard to its axis:
//
//   - consumed_inputs (opset 1's in-place hint) is dropped everywhere, as
//     is BatchNormalization's is_test;
//   - Add, Sub, Mul, Div and Pow with broadcast 1 and an axis get their
//     second operand reshaped so that NumPy's rules align it at that axis
//     (a constant is reshaped, a computed value gets an Unsqueeze); the
//     broadcast attribute is dropped there and on Gemm;
//   - Reshape's shape attribute (opset 1 to 4) becomes its second input,
//     Pad's paddings (opset 1) its pads, Split's second input (opset 1)
//     its split attribute, Cast's type name (opset 1) its type number,
//     and a Concat without an axis (opset 1 to 3) gets 1, its default.
//
// A Dropout not marked is_test 1 trains (it drops at random) and is
// refused, as the converter refuses it; so is an operand whose rank the
// reshape needs and the graph does not give (rank.go).
func Upgrade(m *Model) error {
	if m.Opset < 1 || m.Opset >= UpgradeOpset {
		return nil
	}
	u := upgrader{g: m.Graph, consts: m.Graph.constants(), producer: m.Graph.Producers(), rank: map[string]int{}}
	for i := 0; i < len(u.g.Nodes); i++ {
		n := u.g.Nodes[i]
		if n.Domain != "" {
			continue
		}
		added, err := u.node(n)
		if err != nil {
			return &UpgradeError{Opset: m.Opset, Err: fmt.Errorf("%s at opset %d: %w", n.Describe(), m.Opset, err)}
		}
		if added != nil { // an Unsqueeze, which must run before n
			u.g.Nodes = slices.Insert(u.g.Nodes, i, added)
			i++
		}
	}
	m.Upgraded, m.Opset = m.Opset, UpgradeOpset
	m.Opsets[""] = UpgradeOpset
	return nil
}

// UpgradeError is Upgrade's (and so Decode's) error for a node of an old
// opset that has no opset 7 form lenetkit reads. It unwraps to the
// reason: ErrUnsupported, or a format error.
type UpgradeError struct {
	Opset int64 // the file's
	Err   error
}

func (e *UpgradeError) Error() string { return e.Err.Error() }
func (e *UpgradeError) Unwrap() error { return e.Err }

type upgrader struct {
	g        *Graph
	consts   map[string]*Tensor // the graph's constants, as constants() finds them
	producer map[string]*Node
	rank     map[string]int // ranks found so far, by value name
}

// constant adds an initializer named after base.
func (u *upgrader) constant(base string, t Tensor) string {
	t.Name = uniqueName(u.g, base)
	u.g.Initializers[t.Name] = &t
	u.consts[t.Name] = &t
	return t.Name
}

// node rewrites n in place; it returns a node to insert before n, if any.
func (u *upgrader) node(n *Node) (*Node, error) {
	delete(n.Attrs, "consumed_inputs")
	switch n.OpType {
	case "BatchNormalization":
		delete(n.Attrs, "is_test")
	case "Dropout":
		if test, err := n.Attrs.Int("is_test", 0); err != nil || test == 0 {
			return nil, fmt.Errorf("Dropout without is_test 1 drops at random (training mode): %w", ErrUnsupported)
		}
		delete(n.Attrs, "is_test")
	case "Add", "Sub", "Mul", "Div", "Pow":
		return u.broadcast(n)
	case "Gemm":
		delete(n.Attrs, "broadcast")
	case "Reshape":
		if n.Attrs.Has("shape") {
			shape, err := n.Attrs.Ints("shape")
			if err != nil {
				return nil, err
			}
			n.Inputs = []string{n.Input(0), u.constant(n.Label()+"_shape", Tensor{DType: Int64, Shape: []int{len(shape)}, Int: shape})}
			delete(n.Attrs, "shape")
		}
	case "Pad":
		if p, ok := n.Attrs["paddings"]; ok {
			n.Attrs["pads"] = p
			delete(n.Attrs, "paddings")
		}
	case "Split":
		return nil, u.split(n)
	case "Cast":
		if to, ok := n.Attrs["to"]; ok && to.Type == AttributeProto_STRING {
			v, known := TensorProto_DataType_value[to.String]
			if !known {
				return nil, modelfile.FormatErrorf("Cast to %q, which is no ONNX type", to.String)
			}
			n.Attrs["to"] = Attr{Type: AttributeProto_INT, Int: int64(v)}
		}
	case "Concat":
		if !n.Attrs.Has("axis") {
			n.Attrs["axis"] = Attr{Type: AttributeProto_INT, Int: 1}
		}
	}
	return nil, nil
}

// broadcast rewrites an arithmetic node's legacy broadcast: its second
// operand B aligned with the first, A, at axis rather than at the end.
func (u *upgrader) broadcast(n *Node) (*Node, error) {
	on, err := n.Attrs.Int("broadcast", 0)
	if err != nil {
		return nil, err
	}
	hasAxis := n.Attrs.Has("axis")
	axis, err := n.Attrs.Int("axis", 0)
	if err != nil {
		return nil, err
	}
	delete(n.Attrs, "broadcast")
	delete(n.Attrs, "axis")
	if on == 0 || !hasAxis || len(n.Inputs) != 2 {
		// Without broadcasting the shapes are equal; without an axis B is
		// matched at the end of A's shape: NumPy's rules do the same.
		return nil, nil
	}
	a, b := n.Inputs[0], n.Inputs[1]
	ra, rb := u.rankOf(a), u.rankOf(b)
	if ra < 0 || rb < 0 {
		return nil, fmt.Errorf("broadcasting at axis %d needs the ranks of %q and %q, which the graph does not declare: %w", axis, a, b, ErrUnsupported)
	}
	at := axis
	if at < 0 {
		at += int64(ra)
	}
	trailing := int64(ra) - at - int64(rb)
	if at < 0 || trailing < 0 {
		return nil, modelfile.FormatErrorf("broadcast axis %d does not fit an operand of rank %d in one of rank %d", axis, rb, ra)
	}
	if trailing == 0 {
		return nil, nil
	}
	if t := u.consts[b]; t != nil {
		shape := append(slices.Clone(t.Shape), make([]int, trailing)...)
		for i := len(t.Shape); i < len(shape); i++ {
			shape[i] = 1
		}
		n.Inputs = []string{a, u.constant(b+"_at_axis", Tensor{DType: t.DType, Shape: shape, Float: t.Float, Int: t.Int})}
		return nil, nil
	}
	axes := make([]int64, trailing)
	for i := range axes {
		axes[i] = int64(rb + i)
	}
	out := uniqueName(u.g, b+"_at_axis")
	n.Inputs = []string{a, out}
	unsqueeze := &Node{Name: out, OpType: "Unsqueeze", Inputs: []string{b}, Outputs: []string{out},
		Attrs: Attrs{"axes": {Type: AttributeProto_INTS, Ints: axes}}, Index: n.Index}
	u.producer[out] = unsqueeze
	return unsqueeze, nil
}

// split moves opset 1's split lengths from a constant second input to the
// attribute.
func (u *upgrader) split(n *Node) error {
	in := n.Input(1)
	if in == "" {
		return nil
	}
	t := u.consts[in]
	if t == nil {
		return fmt.Errorf("Split's lengths %q are computed, not a constant: %w", in, ErrUnsupported)
	}
	lengths := slices.Clone(t.Int)
	for _, f := range t.Float { // opset 1 types them as the data
		lengths = append(lengths, int64(f))
	}
	n.Attrs["split"] = Attr{Type: AttributeProto_INTS, Ints: lengths}
	n.Inputs = []string{n.Inputs[0]}
	return nil
}
