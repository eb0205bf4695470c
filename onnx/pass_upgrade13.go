package onnx

import (
	"fmt"
	"maps"
	"slices"

	"github.com/lenetkit/lenetkit/modelfile"
)

// ModernOpset is the opset UpgradeTo13 rewrites a graph to: the first
// where DequantizeLinear takes an axis (per-channel weights), and the one
// ONNX Runtime's quantizer writes.
const ModernOpset = 13

// sameSince7 are the operators whose opset 7 to 12 forms mean at opset 13
// what they meant: later versions added types, negative axes or optional
// inputs, never changed an old form's meaning.
var sameSince7 = map[string]bool{
	"Conv": true, "ConvTranspose": true, "Relu": true, "LeakyRelu": true, "PRelu": true, "Elu": true, "Selu": true,
	"Sigmoid": true, "HardSigmoid": true, "Tanh": true, "Softplus": true, "Softsign": true, "Erf": true,
	"MaxPool": true, "AveragePool": true, "GlobalAveragePool": true, "GlobalMaxPool": true, "LpPool": true,
	"Gemm": true, "MatMul": true, "Add": true, "Sub": true, "Mul": true, "Div": true, "Pow": true,
	"Sum": true, "Max": true, "Min": true, "Mean": true, "Abs": true, "Neg": true, "Exp": true, "Log": true,
	"Sqrt": true, "Reciprocal": true, "Floor": true, "Ceil": true, "Sign": true, "Flatten": true,
	"Reshape": true, "Transpose": true, "Identity": true, "Concat": true, "Constant": true, "Shape": true,
	"Size": true, "Gather": true, "Cast": true, "Expand": true, "Where": true, "Equal": true, "Greater": true,
	"Less": true, "Not": true, "And": true, "Or": true, "ArgMax": true, "ArgMin": true, "LRN": true,
	"InstanceNormalization": true, "Tile": true, "ConstantOfShape": true, "Range": true,
	"ReduceMean": true, "ReduceMax": true, "ReduceMin": true, "ReduceProd": true, "ReduceL1": true,
	"ReduceL2": true, "ReduceLogSumExp": true, "ReduceSumSquare": true, "MatMulInteger": true,
	"ConvInteger": true, "QuantizeLinear": true, "DequantizeLinear": true, "QLinearConv": true,
	"QLinearMatMul": true, "DynamicQuantizeLinear": true,
}

// UpgradeTo13 rewrites a model of opset 7 to 12 into the forms its nodes
// have at opset 13, which compute the same, for writing a graph that
// needs opset 13 (quantize's per-channel DequantizeLinear); a later model
// is left alone, an earlier one must have gone through Upgrade (Decode
// runs it). The rewrites are those of ONNX's operator changelog, written
// with constants where ONNX's version converter would add nodes:
//
//   - attributes that became inputs: Clip's min and max (opset 11),
//     Pad's pads and value (11), Slice's starts, ends and axes (10),
//     TopK's k (10), Dropout's ratio (12), and Squeeze's, Unsqueeze's and
//     ReduceSum's axes and Split's lengths (13);
//   - BatchNormalization's spatial 1 (gone at opset 9) is dropped;
//   - Softmax, LogSoftmax and Hardmax, which flattened their input to 2-D
//     at axis before opset 13, keep their attribute where the axis is the
//     last (as every classifier's is); elsewhere they run on a Flatten
//     and are reshaped back.
//
// Any other operator whose meaning changed (Upsample, Resize before 11,
// Scatter) or that holds a subgraph is refused with an UpgradeError that
// is ErrUnsupported, and m is left as it was. Operators of other domains
// are left alone: their versions are their own.
func UpgradeTo13(m *Model) error {
	if m == nil || m.Graph == nil || m.Opset >= ModernOpset {
		return nil
	}
	if m.Opset < UpgradeOpset {
		return fmt.Errorf("opset %d: read the model with Decode, which brings it to opset %d first", m.Opset, UpgradeOpset)
	}
	g := *m.Graph // rewritten on a copy, so that a refusal leaves m as it was
	g.Nodes = make([]*Node, len(m.Graph.Nodes))
	for i, n := range m.Graph.Nodes {
		c := *n
		c.Inputs, c.Outputs, c.Attrs = slices.Clone(n.Inputs), slices.Clone(n.Outputs), maps.Clone(n.Attrs)
		if c.Attrs == nil {
			c.Attrs = Attrs{}
		}
		g.Nodes[i] = &c
	}
	g.Initializers = maps.Clone(g.Initializers)
	u := upgrader{g: &g, consts: g.constants(), producer: g.Producers(), rank: map[string]int{}}
	for i := 0; i < len(g.Nodes); i++ {
		n := g.Nodes[i]
		if !isDefaultDomain(n.Domain) {
			continue
		}
		before, after, err := u.node13(n)
		if err != nil {
			return &UpgradeError{Opset: m.Opset, Err: fmt.Errorf("%s at opset %d has no opset %d form lenetkit writes: %w", n.Describe(), m.Opset, ModernOpset, err)}
		}
		g.Nodes = slices.Insert(g.Nodes, i+1, after...)
		g.Nodes = slices.Insert(g.Nodes, i, before...)
		i += len(before) + len(after)
	}
	*m.Graph = g
	m.Opset = ModernOpset
	if m.Opsets == nil {
		m.Opsets = map[string]int64{}
	}
	m.Opsets[""] = ModernOpset
	m.IRVersion = max(m.IRVersion, 7) // the first IR version of opset 13
	return nil
}

// node13 rewrites n in place; before and after are nodes to run around it.
func (u *upgrader) node13(n *Node) (before, after []*Node, err error) {
	for _, a := range n.Attrs {
		if a.Graphs > 0 {
			return nil, nil, fmt.Errorf("a subgraph: %w", ErrUnsupported)
		}
	}
	switch n.OpType {
	case "Clip":
		err = u.attrsToInputs(n, 1, []attrInput{{name: "min", dtype: Float}, {name: "max", dtype: Float}})
	case "Pad":
		err = u.attrsToInputs(n, 1, []attrInput{{name: "pads", dtype: Int64, list: true}, {name: "value", dtype: Float, skipZero: true}})
	case "Slice":
		err = u.attrsToInputs(n, 1, []attrInput{{name: "starts", dtype: Int64, list: true}, {name: "ends", dtype: Int64, list: true}, {name: "axes", dtype: Int64, list: true}})
	case "TopK":
		err = u.attrsToInputs(n, 1, []attrInput{{name: "k", dtype: Int64, list: true}})
	case "Dropout":
		err = u.attrsToInputs(n, 1, []attrInput{{name: "ratio", dtype: Float}})
	case "Squeeze", "Unsqueeze", "ReduceSum":
		err = u.attrsToInputs(n, 1, []attrInput{{name: "axes", dtype: Int64, list: true}})
	case "Split":
		err = u.attrsToInputs(n, 1, []attrInput{{name: "split", dtype: Int64, list: true}})
	case "BatchNormalization":
		if spatial, e := n.Attrs.Int("spatial", 1); e != nil || spatial != 1 {
			return nil, nil, fmt.Errorf("BatchNormalization with spatial 0 (statistics per element): %w", ErrUnsupported)
		}
		delete(n.Attrs, "spatial")
	case "Softmax", "LogSoftmax", "Hardmax":
		return u.softmax13(n)
	default:
		if !sameSince7[n.OpType] {
			return nil, nil, fmt.Errorf("%s changed meaning before opset %d, or lenetkit does not know it: %w", OpName(n.OpType), ModernOpset, ErrUnsupported)
		}
	}
	return nil, nil, err
}

// attrInput is an attribute that became an input at a later opset.
type attrInput struct {
	name     string
	dtype    DType
	list     bool // a 1-D tensor; otherwise a scalar
	skipZero bool // an absent input means 0, so a 0 is not written
}

// attrsToInputs moves n's attributes into inputs from index first on, in
// order, each a new constant; an absent attribute becomes an absent input.
func (u *upgrader) attrsToInputs(n *Node, first int, attrs []attrInput) error {
	if !slices.ContainsFunc(attrs, func(a attrInput) bool { return n.Attrs.Has(a.name) }) {
		return nil // the later form already
	}
	if len(n.Inputs) > first {
		return fmt.Errorf("inputs and attributes both given: %w", ErrUnsupported)
	}
	inputs := slices.Clone(n.Inputs[:min(first, len(n.Inputs))])
	for len(inputs) < first {
		inputs = append(inputs, "")
	}
	for _, a := range attrs {
		v, ok := n.Attrs[a.name]
		delete(n.Attrs, a.name)
		if !ok || (a.skipZero && v.Float == 0 && v.Int == 0) {
			inputs = append(inputs, "")
			continue
		}
		t := Tensor{DType: a.dtype}
		switch {
		case a.list && a.dtype == Int64 && v.Type == AttributeProto_INTS:
			t.Shape, t.Int = []int{len(v.Ints)}, slices.Clone(v.Ints)
		case a.list && a.dtype == Int64 && v.Type == AttributeProto_INT:
			t.Shape, t.Int = []int{1}, []int64{v.Int}
		case !a.list && a.dtype == Float && v.Type == AttributeProto_FLOAT:
			t.Float = []float32{v.Float}
		default:
			return fmt.Errorf("attribute %s is %s: %w", a.name, v.Type, ErrUnsupported)
		}
		inputs = append(inputs, u.constant(n.Label()+"_"+a.name, t))
	}
	for len(inputs) > 0 && inputs[len(inputs)-1] == "" {
		inputs = inputs[:len(inputs)-1]
	}
	n.Inputs = inputs
	return nil
}

// softmax13 keeps a Softmax's attribute where its axis is the input's
// last, and otherwise runs it, on the 2-D Flatten it computed over before
// opset 13, between a Flatten and a Reshape back to the input's shape.
func (u *upgrader) softmax13(n *Node) (before, after []*Node, err error) {
	axis, err := n.Attrs.Int("axis", 1)
	if err != nil {
		return nil, nil, err
	}
	x := n.Input(0)
	if x == "" || len(n.Outputs) == 0 || n.Outputs[0] == "" {
		return nil, nil, modelfile.FormatErrorf("%s without its input or output", OpName(n.OpType))
	}
	rank := u.rankOf(x)
	if axis == -1 || (rank > 0 && axis == int64(rank-1)) {
		n.Attrs["axis"] = Attr{Type: AttributeProto_INT, Int: -1}
		return nil, nil, nil
	}
	out := n.Outputs[0]
	shape, flat, y := uniqueName(u.g, x+"_shape"), uniqueName(u.g, x+"_flat"), uniqueName(u.g, out+"_flat")
	before = []*Node{
		{Name: shape, OpType: "Shape", Inputs: []string{x}, Outputs: []string{shape}, Index: n.Index},
		{Name: flat, OpType: "Flatten", Inputs: []string{x}, Outputs: []string{flat}, Index: n.Index,
			Attrs: Attrs{"axis": {Type: AttributeProto_INT, Int: axis}}},
	}
	n.Inputs, n.Outputs = []string{flat}, []string{y}
	n.Attrs["axis"] = Attr{Type: AttributeProto_INT, Int: -1}
	after = []*Node{{Name: out, OpType: "Reshape", Inputs: []string{y, shape}, Outputs: []string{out}, Index: n.Index}}
	for _, p := range append(before, after...) {
		u.producer[p.Outputs[0]] = p
	}
	u.producer[y] = n
	return before, after, nil
}
