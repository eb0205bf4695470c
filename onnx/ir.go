package onnx

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Model is lenetkit's own representation of an ONNX model: what every path
// (the backend's plan, the import to a state dict, doctor, export) reads,
// decoded once from the protobuf by Decode. Values are named as in the file;
// a node's absent optional input is "".
type Model struct {
	IRVersion int64
	// Opset is the version of the default domain's operator set; Opsets
	// has every domain's, "" for the default one.
	Opset  int64
	Opsets map[string]int64
	// Upgraded is the opset the file declared when it was older than
	// UpgradeOpset, which Opset then is (Upgrade); 0 otherwise.
	Upgraded int64
	Producer string // producer_name and, when given, producer_version
	Metadata map[string]string
	Graph    *Graph
}

// Graph is a model's main graph, its nodes in topological order once
// SortNodes has run (Decode runs it).
type Graph struct {
	Name  string
	Nodes []*Node
	// Initializers are the graph's constant tensors by name. Constant
	// nodes stay nodes; their readers (the backend's plan, onnxtrain)
	// evaluate them.
	Initializers map[string]*Tensor
	// Inputs are the graph's inputs that are not initializers: what a
	// caller feeds. Old files (IR version 3) also list every initializer
	// as an input; Decode drops those.
	Inputs  []*Value
	Outputs []*Value
	// ValueInfo is the declared type of intermediate values, by name.
	ValueInfo map[string]*Value
	// Reordered says the file's nodes were not in topological order and
	// SortNodes put them in one (keras2onnx 1.5 writes them out of order).
	Reordered bool
}

// Node is one operator application.
type Node struct {
	Name    string
	OpType  string
	Domain  string // "" for the default domain (ai.onnx)
	Inputs  []string
	Outputs []string
	Attrs   Attrs
	// Index is the node's position in the file, for messages about it.
	Index int
}

// Value is a graph input's, output's or intermediate value's declared
// type: element type and shape, each dimension a size or a name.
type Value struct {
	Name  string
	DType DType // 0 when the file does not say
	// Dims is nil when the shape is not declared; a dimension of -1 is
	// symbolic (its name in Params) or unknown.
	Dims   []int64
	Params []string
}

// Shape returns the declared dimensions as ints, -1 for a symbolic one.
func (v *Value) Shape() []int {
	s := make([]int, len(v.Dims))
	for i, d := range v.Dims {
		s[i] = int(d)
	}
	return s
}

// String formats the value's shape as an error shows it: [N, 28, 28, 1].
func (v *Value) String() string {
	parts := make([]string, len(v.Dims))
	for i, d := range v.Dims {
		switch {
		case d >= 0:
			parts[i] = fmt.Sprint(d)
		case v.Params[i] != "":
			parts[i] = v.Params[i]
		default:
			parts[i] = "?"
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// Describe names the node for messages: node 3 (Relu "relu1").
func (n *Node) Describe() string {
	typ := n.OpType
	if n.Domain != "" {
		typ = n.Domain + "." + typ
	}
	if n.Name != "" {
		return fmt.Sprintf("node %d (%s %q)", n.Index, OpName(typ), n.Name)
	}
	return fmt.Sprintf("node %d (%s)", n.Index, OpName(typ))
}

// Label is how messages name the node: its name, or for a nameless one
// its first output's ("" when it has neither).
func (n *Node) Label() string {
	if n.Name != "" || len(n.Outputs) == 0 {
		return n.Name
	}
	return n.Outputs[0]
}

// Input returns input i, or "" when the node has fewer inputs.
func (n *Node) Input(i int) string {
	if i < len(n.Inputs) {
		return n.Inputs[i]
	}
	return ""
}

// Producers maps each value a node outputs to the node.
func (g *Graph) Producers() map[string]*Node {
	p := make(map[string]*Node, len(g.Nodes))
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o != "" {
				p[o] = n
			}
		}
	}
	return p
}

// Uses counts the node inputs and graph outputs that read each value.
func (g *Graph) Uses() map[string]int {
	u := map[string]int{}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			if in != "" {
				u[in]++
			}
		}
	}
	for _, o := range g.Outputs {
		u[o.Name]++
	}
	return u
}

// IsOutput reports whether name is one of the graph's outputs.
func (g *Graph) IsOutput(name string) bool {
	return slices.ContainsFunc(g.Outputs, func(v *Value) bool { return v.Name == name })
}

// ErrUnsupported is what errors about what lenetkit does not run match
// with errors.Is: operators, data types, control flow.
var ErrUnsupported = errors.New("not supported")

// UnsupportedError lists every operator of a graph that a backend lacks,
// with the nodes that use it, so that a file's blockers are reported at
// once rather than one per attempt.
type UnsupportedError struct {
	Ops []UnsupportedOp
}

// UnsupportedOp is one missing operator and the nodes that apply it.
type UnsupportedOp struct {
	Type  string // Domain.OpType outside the default domain
	Nodes []string
}

func (e *UnsupportedError) Error() string {
	parts := make([]string, len(e.Ops))
	for i, o := range e.Ops {
		parts[i] = OpName(o.Type)
		if len(o.Nodes) > 1 {
			parts[i] += fmt.Sprintf(" (%d nodes)", len(o.Nodes))
		}
	}
	return "operators not supported: " + strings.Join(parts, ", ")
}

func (e *UnsupportedError) Is(target error) bool { return target == ErrUnsupported }

// Unsupported returns an *UnsupportedError for the nodes of g whose
// operator supported refuses, or nil when it accepts them all.
func Unsupported(g *Graph, supported func(domain, opType string) bool) error {
	var e UnsupportedError
	at := map[string]int{}
	for _, n := range g.Nodes {
		if supported(n.Domain, n.OpType) {
			continue
		}
		typ := n.OpType
		if n.Domain != "" {
			typ = n.Domain + "." + typ
		}
		i, ok := at[typ]
		if !ok {
			i = len(e.Ops)
			at[typ] = i
			e.Ops = append(e.Ops, UnsupportedOp{Type: typ})
		}
		e.Ops[i].Nodes = append(e.Ops[i].Nodes, n.Label())
	}
	if len(e.Ops) == 0 {
		return nil
	}
	return &e
}
