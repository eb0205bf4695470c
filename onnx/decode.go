package onnx

import (
	"fmt"
	"os"

	"github.com/lenetkit/lenetkit/modelfile"
)

// Decode turns a model read by Unmarshal into lenetkit's Model: attributes
// and tensors decoded once, graph inputs that are also initializers (old
// IR versions list every weight as an input) dropped from Inputs, the
// nodes sorted into a topological order (SortNodes) and, for opsets 1 to
// 6, rewritten into opset 7's forms (Upgrade). External data must have
// been read into the tensors already.
func Decode(m *ModelProto) (*Model, error) {
	g := m.GetGraph()
	if g == nil {
		return nil, modelfile.FormatErrorf("the model has no graph")
	}
	out := &Model{IRVersion: m.IrVersion, Opsets: map[string]int64{}, Metadata: map[string]string{}}
	for _, o := range m.OpsetImport {
		d := o.Domain
		if d == "ai.onnx" {
			d = ""
		}
		out.Opsets[d] = o.Version
	}
	out.Opset = out.Opsets[""]
	out.Producer = m.ProducerName
	if m.ProducerVersion != "" {
		out.Producer += " " + m.ProducerVersion
	}
	for _, kv := range m.MetadataProps {
		out.Metadata[kv.Key] = kv.Value
	}
	dg, err := decodeGraph(g)
	if err != nil {
		return nil, err
	}
	out.Graph = dg
	if err := SortNodes(dg); err != nil {
		return nil, err
	}
	if err := Upgrade(out); err != nil {
		return nil, err
	}
	return out, nil
}

func decodeGraph(g *GraphProto) (*Graph, error) {
	out := &Graph{Name: g.Name, Initializers: make(map[string]*Tensor, len(g.Initializer)), ValueInfo: map[string]*Value{}}
	for _, p := range g.Initializer {
		t, err := DecodeTensor(p)
		if err != nil {
			return nil, fmt.Errorf("initializer %q: %w", p.Name, err)
		}
		out.Initializers[p.Name] = t
	}
	for _, v := range g.Input {
		if _, isWeight := out.Initializers[v.Name]; !isWeight {
			out.Inputs = append(out.Inputs, decodeValue(v))
		}
	}
	for _, v := range g.Output {
		out.Outputs = append(out.Outputs, decodeValue(v))
	}
	for _, v := range g.ValueInfo {
		out.ValueInfo[v.Name] = decodeValue(v)
	}
	out.Nodes = make([]*Node, len(g.Node))
	for i, p := range g.Node {
		n, err := decodeNode(i, p)
		if err != nil {
			return nil, err
		}
		out.Nodes[i] = n
	}
	return out, nil
}

// decodeNode reads node i of a graph, its attributes decoded. Its Inputs
// and Outputs are the protobuf node's own slices, which Normalize's
// rewrites of the protobuf rely on.
func decodeNode(i int, p *NodeProto) (*Node, error) {
	a, err := decodeAttrs(p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", describeNode(i, p), err)
	}
	d := p.Domain
	if d == "ai.onnx" {
		d = ""
	}
	return &Node{Name: p.Name, OpType: p.OpType, Domain: d, Inputs: p.Input, Outputs: p.Output, Attrs: a, Index: i}, nil
}

func decodeValue(v *ValueInfoProto) *Value {
	out := &Value{Name: v.Name}
	t := v.GetType().GetTensorType()
	if t == nil {
		return out
	}
	out.DType = DType(t.ElemType)
	if t.Shape == nil {
		return out
	}
	out.Dims = make([]int64, len(t.Shape.Dim))
	out.Params = make([]string, len(t.Shape.Dim))
	for i, d := range t.Shape.Dim {
		out.Dims[i] = -1
		switch x := d.Value.(type) {
		case *TensorShapeProto_Dimension_DimValue:
			out.Dims[i] = x.DimValue
		case *TensorShapeProto_Dimension_DimParam:
			out.Params[i] = x.DimParam
		}
	}
	return out
}

// Load reads, checks and decodes the .onnx file at path. It does not read
// external data; the backend's Open does.
func Load(path string) (*Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	p, err := Unmarshal(b, path)
	if err != nil {
		return nil, err
	}
	m, err := Decode(p)
	if err != nil {
		return nil, fmt.Errorf("onnx: %s: %w", path, err)
	}
	return m, nil
}
