// Package backend is lenetkit's backend for onnx-go: onnx-go decodes an ONNX
// model into a Graph (its graph-builder and ApplyOperation interfaces), and
// Compile turns the decoded graph, once, into a Plan of lenetkit's kernels
// over preallocated buffers that classifies batches of images, one image
// per CPU at a time.
//
// It runs inference graphs of image classifiers: convolutions, pooling,
// inference-mode BatchNormalization, activations, fully connected layers
// and the shape arithmetic exporters write around them, which is folded
// away at load. Where the seed's blocks (3x3 convolution, ReLU,
// BatchNorm, max pooling) appear, the fused kernels lenetkit trains with
// run them.
package backend

import (
	"fmt"

	onnxgo "github.com/owulveryck/onnx-go"
	"gonum.org/v1/gonum/graph"
	"gonum.org/v1/gonum/graph/simple"
	"gorgonia.org/tensor"
)

// Graph receives a model from onnx-go's decoder: every named value becomes
// a node, initializers and Constant attributes arrive as tensors, and each
// ONNX node arrives, in the model's order, as one ApplyOperation call.
type Graph struct {
	*simple.WeightedDirectedGraph
	byName map[string]*node
	nodes  map[int64]*node
	ops    []applied
}

// applied is one ApplyOperation call: an ONNX node.
type applied struct {
	op      onnxgo.Operation
	outputs []*node
}

// node is one named value of the graph.
type node struct {
	id    int64
	name  string
	value tensor.Tensor // an initializer's or input's tensor; nil otherwise
}

// NewGraph returns an empty graph for onnx-go's decoder.
func NewGraph() *Graph {
	return &Graph{
		WeightedDirectedGraph: simple.NewWeightedDirectedGraph(0, 0),
		byName:                map[string]*node{},
		nodes:                 map[int64]*node{},
	}
}

func (n *node) ID() int64                       { return n.id }
func (n *node) SetName(s string)                { n.name = s }
func (n *node) GetName() string                 { return n.name }
func (n *node) SetTensor(t tensor.Tensor) error { n.value = t; return nil }
func (n *node) GetTensor() tensor.Tensor        { return n.value }
func (n *node) SetDescription(string)           {}
func (n *node) GetDescription() string          { return "" }
func (g *Graph) nodeByName(name string) *node   { return g.byName[name] }
func (g *Graph) addNamed(n *node)               { g.byName[n.name] = n }
func (g *Graph) String() string                 { return fmt.Sprintf("backend.Graph(%d ops)", len(g.ops)) }

// NewNode returns a node that carries a name and a tensor.
func (g *Graph) NewNode() graph.Node {
	return &node{id: g.WeightedDirectedGraph.NewNode().ID()}
}

// AddNode adds n; onnx-go names it before adding it.
func (g *Graph) AddNode(n graph.Node) {
	g.WeightedDirectedGraph.AddNode(n)
	if nn, ok := n.(*node); ok {
		g.nodes[nn.id] = nn
	}
}

// ApplyOperation records one ONNX node. The compiler reads its inputs from
// the model's node list, in order, rather than from the graph's edges: a
// simple graph keeps one edge per pair of nodes, so an operator that takes
// the same value twice (Mul(x, x)) would lose an input.
func (g *Graph) ApplyOperation(op onnxgo.Operation, outputs ...graph.Node) error {
	a := applied{op: op}
	for _, o := range outputs {
		n, ok := o.(*node)
		if !ok {
			return fmt.Errorf("backend: output node of type %T", o)
		}
		a.outputs = append(a.outputs, n)
	}
	g.ops = append(g.ops, a)
	return nil
}

// index fills byName once decoding is done: onnx-go names nodes after
// adding them.
func (g *Graph) index() {
	for _, n := range g.nodes {
		if n.name != "" {
			g.addNamed(n)
		}
	}
}
