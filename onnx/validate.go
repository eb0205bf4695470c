package onnx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/lenetkit/lenetkit/modelfile"
)

// The limits below are modelfile's (limits.go states them all): subgraphs
// nest at most modelfile.MaxGraphNesting deep, all graphs together hold at
// most modelfile.MaxGraphNodes nodes.

// checkWire walks the raw protobuf of a ModelProto along the only path on
// which its messages nest (ModelProto.graph, GraphProto.node,
// NodeProto.attribute, AttributeProto.g and .graphs, GraphProto again)
// before the generated decoder, which recurses without a limit, sees it:
// subgraphs nested too deep or too many nodes are refused. Malformed data
// is left for the decoder to report, so this returns nil for it.
func checkWire(data []byte) error {
	w := wireWalker{}
	err := w.message(data, wireModel, 0)
	if errors.Is(err, errMalformed) {
		return nil
	}
	return err
}

type wireKind int

const (
	wireModel wireKind = iota
	wireGraph
	wireNode
	wireAttr
)

var errMalformed = errors.New("malformed protobuf")

type wireWalker struct{ nodes int }

// message walks one message of the given kind; depth is the number of
// graphs it lies in.
func (w *wireWalker) message(b []byte, kind wireKind, depth int) error {
	for len(b) > 0 {
		tag, n := binary.Uvarint(b)
		if n <= 0 {
			return errMalformed
		}
		b = b[n:]
		field, wt := tag>>3, tag&7
		if wt != 2 {
			rest, err := skipField(b, wt)
			if err != nil {
				return err
			}
			b = rest
			continue
		}
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return errMalformed
		}
		sub := b[n : n+int(l)]
		b = b[n+int(l):]
		var err error
		switch {
		case kind == wireModel && field == 7: // graph
			err = w.graph(sub, depth+1)
		case kind == wireGraph && field == 1: // node
			if w.nodes++; w.nodes > modelfile.MaxGraphNodes {
				return fmt.Errorf("the graphs hold more than %d nodes, refused", modelfile.MaxGraphNodes)
			}
			err = w.message(sub, wireNode, depth)
		case kind == wireNode && field == 5: // attribute
			err = w.message(sub, wireAttr, depth)
		case kind == wireAttr && (field == 6 || field == 11): // g, graphs
			err = w.graph(sub, depth+1)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (w *wireWalker) graph(b []byte, depth int) error {
	if depth > modelfile.MaxGraphNesting {
		return fmt.Errorf("subgraphs nested more than %d deep, refused", modelfile.MaxGraphNesting)
	}
	return w.message(b, wireGraph, depth)
}

// skipField skips a field's value of wire type wt other than 2, groups
// included, without recursion, as the generated decoder does.
func skipField(b []byte, wt uint64) ([]byte, error) {
	groups := 0
	for {
		switch wt {
		case 0:
			_, n := binary.Uvarint(b)
			if n <= 0 {
				return nil, errMalformed
			}
			b = b[n:]
		case 1:
			if len(b) < 8 {
				return nil, errMalformed
			}
			b = b[8:]
		case 2:
			l, n := binary.Uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				return nil, errMalformed
			}
			b = b[n+int(l):]
		case 3:
			groups++
		case 4:
			groups--
			if groups < 0 {
				return nil, errMalformed
			}
		case 5:
			if len(b) < 4 {
				return nil, errMalformed
			}
			b = b[4:]
		default:
			return nil, errMalformed
		}
		if groups == 0 {
			return b, nil
		}
		tag, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errMalformed
		}
		b, wt = b[n:], tag&7
	}
}

// Validate checks the graph of m as onnx.checker does, for what lenetkit
// reads of it: nodes in topological order, so no cycle and no node taking
// its own output; every value produced once, by a graph input, an
// initializer or one node output; no Constant node giving an initializer's
// name, which would shadow it; every graph output produced; no more nodes
// and no deeper subgraphs than modelfile's limits allow. Subgraphs count
// towards the limits; their names, which may come from the enclosing
// graph, are not checked.
func Validate(m *ModelProto) error {
	g := m.GetGraph()
	if g == nil {
		return errors.New("the model has no graph")
	}
	nodes, err := countNodes(g, 1)
	if err != nil {
		return err
	}
	if nodes > modelfile.MaxGraphNodes {
		return fmt.Errorf("the graphs hold %d nodes, more than %d, refused", nodes, modelfile.MaxGraphNodes)
	}
	return validateGraph(g)
}

func countNodes(g *GraphProto, depth int) (int, error) {
	if depth > modelfile.MaxGraphNesting {
		return 0, fmt.Errorf("subgraphs nested more than %d deep, refused", modelfile.MaxGraphNesting)
	}
	n := len(g.Node)
	for _, node := range g.Node {
		for _, a := range node.Attribute {
			subs := a.Graphs
			if a.G != nil {
				subs = append([]*GraphProto{a.G}, subs...)
			}
			for _, s := range subs {
				k, err := countNodes(s, depth+1)
				if err != nil {
					return 0, err
				}
				if n += k; n > modelfile.MaxGraphNodes {
					return n, nil
				}
			}
		}
	}
	return n, nil
}

// describeNode names node i for errors: node 3 (Relu "relu1").
func describeNode(i int, n *NodeProto) string {
	if n.Name != "" {
		return fmt.Sprintf("node %d (%s %q)", i, OpName(n.OpType), n.Name)
	}
	return fmt.Sprintf("node %d (%s)", i, OpName(n.OpType))
}

func validateGraph(g *GraphProto) error {
	producer := map[string]string{} // value name -> what produces it, for errors
	initializer := map[string]bool{}
	for _, t := range g.Initializer {
		if initializer[t.Name] {
			return fmt.Errorf("two initializers are named %q", t.Name)
		}
		initializer[t.Name] = true
		producer[t.Name] = "an initializer"
	}
	for _, in := range g.Input {
		if p, ok := producer[in.Name]; ok && p != "an initializer" {
			return fmt.Errorf("two graph inputs are named %q", in.Name)
		}
		if !initializer[in.Name] { // an input with a default value is one value
			producer[in.Name] = "a graph input"
		}
	}
	// Every node's outputs first: nodes may come in any order that is a
	// DAG (SortNodes orders them), as ONNX Runtime accepts.
	for i, n := range g.Node {
		for _, o := range n.Output {
			if o == "" {
				continue
			}
			if n.OpType == "Constant" && isDefaultDomain(n.Domain) && initializer[o] {
				return fmt.Errorf("%s gives %q, an initializer's name: it would shadow the initializer", describeNode(i, n), o)
			}
			if p, ok := producer[o]; ok {
				return fmt.Errorf("value %q is produced twice: by %s and by %s", o, p, describeNode(i, n))
			}
			producer[o] = describeNode(i, n)
		}
	}
	for i, n := range g.Node {
		for _, in := range n.Input {
			if in == "" { // an absent optional input
				continue
			}
			if _, ok := producer[in]; !ok {
				return fmt.Errorf("%s takes %q, which nothing produces", describeNode(i, n), in)
			}
			if slices.Contains(n.Output, in) {
				return fmt.Errorf("%s takes %q, its own output: a self-loop", describeNode(i, n), in)
			}
		}
	}
	if i, j, in, ok := cycle(g); ok {
		return fmt.Errorf("%s takes %q from %s, which depends on it: the graph has a cycle", describeNode(i, g.Node[i]), in, describeNode(j, g.Node[j]))
	}
	return nil
}

// cycle finds a cycle in the nodes' dependencies, whatever their order
// (Kahn's algorithm): node i takes value in from node j, both left over
// when every node that can be ordered is.
func cycle(g *GraphProto) (i, j int, in string, ok bool) {
	producer := map[string]int{}
	for i, n := range g.Node {
		for _, o := range n.Output {
			if o != "" {
				producer[o] = i
			}
		}
	}
	indegree := make([]int, len(g.Node))
	users := make([][]int, len(g.Node))
	for i, n := range g.Node {
		for _, in := range n.Input {
			if j, ok := producer[in]; ok && in != "" {
				indegree[i]++
				users[j] = append(users[j], i)
			}
		}
	}
	var ready []int
	for i, d := range indegree {
		if d == 0 {
			ready = append(ready, i)
		}
	}
	for len(ready) > 0 {
		i := ready[len(ready)-1]
		ready = ready[:len(ready)-1]
		for _, u := range users[i] {
			if indegree[u]--; indegree[u] == 0 {
				ready = append(ready, u)
			}
		}
	}
	for i, n := range g.Node {
		if indegree[i] == 0 {
			continue
		}
		for _, in := range n.Input {
			if j, ok := producer[in]; ok && in != "" && indegree[j] > 0 {
				return i, j, in, true
			}
		}
	}
	return 0, 0, "", false
}
