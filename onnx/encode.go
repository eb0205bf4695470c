package onnx

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/lenetkit/lenetkit/modelfile"
)

// Encode writes m back to protobuf, the inverse of Decode for what Model
// holds: Decode(Encode(m)) describes the same model. Where Model keeps no
// order, Encode writes a fixed one, so that equal Models give equal bytes:
// opset imports with the default domain first and the others by domain,
// each node's attributes by name, initializers in the order the nodes first
// read them and then any others by name, value_info and metadata by name.
// Producer is split at its first space into producer_name and
// producer_version, as Decode joins them. For IR version 3 and older the
// initializers are listed as graph inputs too, after the others, as those
// versions require. Tensors are written as raw
// little-endian data. Subgraph attributes, which Model only counts, and
// tensors of types without a fixed size are refused.
func Encode(m *Model) (*ModelProto, error) {
	if m.Graph == nil {
		return nil, fmt.Errorf("onnx: encode: the model has no graph")
	}
	g, err := encodeGraph(m.Graph)
	if err != nil {
		return nil, fmt.Errorf("onnx: encode: %w", err)
	}
	if m.IRVersion > 0 && m.IRVersion < 4 {
		// IR version 3 requires every initializer among the graph's
		// inputs, which Decode took out.
		for _, t := range g.Initializer {
			dims := make([]int64, len(t.Dims))
			copy(dims, t.Dims)
			g.Input = append(g.Input, encodeValue(&Value{Name: t.Name, DType: DType(t.DataType), Dims: dims}))
		}
	}
	out := &ModelProto{IrVersion: m.IRVersion, Graph: g}
	out.ProducerName, out.ProducerVersion, _ = strings.Cut(m.Producer, " ")
	def, hasDef := m.Opsets[""]
	if m.Opset != 0 {
		def, hasDef = m.Opset, true
	}
	if hasDef {
		out.OpsetImport = append(out.OpsetImport, &OperatorSetIdProto{Domain: "", Version: def})
	}
	for _, d := range slices.Sorted(maps.Keys(m.Opsets)) {
		if d != "" {
			out.OpsetImport = append(out.OpsetImport, &OperatorSetIdProto{Domain: d, Version: m.Opsets[d]})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(m.Metadata)) {
		out.MetadataProps = append(out.MetadataProps, &StringStringEntryProto{Key: k, Value: m.Metadata[k]})
	}
	return out, nil
}

func encodeGraph(g *Graph) (*GraphProto, error) {
	out := &GraphProto{Name: g.Name}
	written := map[string]bool{}
	addInit := func(name string) error {
		t, ok := g.Initializers[name]
		if !ok || written[name] {
			return nil
		}
		written[name] = true
		p, err := encodeTensor(name, t)
		if err != nil {
			return fmt.Errorf("initializer %q: %w", name, err)
		}
		out.Initializer = append(out.Initializer, p)
		return nil
	}
	for _, n := range g.Nodes {
		p, err := encodeNode(n)
		if err != nil {
			return nil, err
		}
		out.Node = append(out.Node, p)
		for _, in := range n.Inputs {
			if err := addInit(in); err != nil {
				return nil, err
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(g.Initializers)) {
		if err := addInit(name); err != nil {
			return nil, err
		}
	}
	for _, v := range g.Inputs {
		out.Input = append(out.Input, encodeValue(v))
	}
	for _, v := range g.Outputs {
		out.Output = append(out.Output, encodeValue(v))
	}
	for _, name := range slices.Sorted(maps.Keys(g.ValueInfo)) {
		v := *g.ValueInfo[name]
		v.Name = name
		out.ValueInfo = append(out.ValueInfo, encodeValue(&v))
	}
	return out, nil
}

func encodeNode(n *Node) (*NodeProto, error) {
	attrs, err := encodeAttrs(n.Attrs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n.Describe(), err)
	}
	return &NodeProto{
		Name:      n.Name,
		OpType:    n.OpType,
		Domain:    n.Domain,
		Input:     slices.Clone(n.Inputs),
		Output:    slices.Clone(n.Outputs),
		Attribute: attrs,
	}, nil
}

// encodeAttrs is the one writer of ONNX attributes, the inverse of
// decodeAttrs; it writes them in the order of their names.
func encodeAttrs(a Attrs) ([]*AttributeProto, error) {
	var out []*AttributeProto
	for _, name := range slices.Sorted(maps.Keys(a)) {
		p, err := encodeAttr(name, a[name])
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func encodeAttr(name string, v Attr) (*AttributeProto, error) {
	p := &AttributeProto{Name: name, Type: v.Type}
	switch v.Type {
	case AttributeProto_INT:
		i := v.Int
		p.I = &i
	case AttributeProto_FLOAT:
		f := v.Float
		p.F = &f
	case AttributeProto_STRING:
		p.S = []byte(v.String)
	case AttributeProto_INTS:
		p.Ints = slices.Clone(v.Ints)
	case AttributeProto_FLOATS:
		p.Floats = slices.Clone(v.Floats)
	case AttributeProto_STRINGS:
		for _, s := range v.Strings {
			p.Strings = append(p.Strings, []byte(s))
		}
	case AttributeProto_TENSOR:
		if v.Tensor == nil {
			return nil, fmt.Errorf("attribute %s is a TENSOR without one", OpName(name))
		}
		t, err := encodeTensor(v.Tensor.Name, v.Tensor)
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %w", OpName(name), err)
		}
		p.T = t
	default:
		return nil, fmt.Errorf("attribute %s is %s, which Encode does not write: %w", OpName(name), v.Type, ErrUnsupported)
	}
	return p, nil
}

// encodeTensor is the one writer of ONNX tensors, the inverse of
// DecodeTensor: the values as raw little-endian data, named name. Every
// type of a fixed size is written, the 16-bit floats rounded to nearest
// from the float32 values they decode to (exactly those they came from,
// unless training changed them).
func encodeTensor(name string, t *Tensor) (*TensorProto, error) {
	size := t.DType.Size()
	if size == 0 {
		return nil, fmt.Errorf("tensor %q is %s, which Encode does not write: %w", name, t.DType, ErrUnsupported)
	}
	n := 1
	for _, d := range t.Shape {
		if d < 0 {
			return nil, fmt.Errorf("tensor %q has dimension %d", name, d)
		}
		if d > 0 && n > modelfile.MaxElements/d {
			return nil, modelfile.LimitErrorf("tensor %q of shape %s has more than %d elements", name, dimsString(dims64(t.Shape)), modelfile.MaxElements)
		}
		n *= d
	}
	values := len(t.Int)
	if t.DType.IsFloat() {
		values = len(t.Float)
	}
	if values != n || (t.DType.IsFloat() && t.Int != nil) || (!t.DType.IsFloat() && t.Float != nil) {
		return nil, fmt.Errorf("tensor %q of shape %s holds %d %s values, expected %d", name, dimsString(dims64(t.Shape)), t.Len(), t.DType, n)
	}
	raw := make([]byte, size*n)
	le := binary.LittleEndian
	for i := range n {
		switch t.DType {
		case Float:
			le.PutUint32(raw[4*i:], math.Float32bits(t.Float[i]))
		case Double:
			le.PutUint64(raw[8*i:], math.Float64bits(float64(t.Float[i])))
		case Float16:
			le.PutUint16(raw[2*i:], float32ToHalf(t.Float[i]))
		case BFloat16:
			le.PutUint16(raw[2*i:], float32ToBFloat16(t.Float[i]))
		case Uint8, Int8, Bool:
			raw[i] = byte(t.Int[i])
		case Uint16, Int16:
			le.PutUint16(raw[2*i:], uint16(t.Int[i]))
		case Int32, Uint32:
			le.PutUint32(raw[4*i:], uint32(t.Int[i]))
		case Int64, Uint64:
			le.PutUint64(raw[8*i:], uint64(t.Int[i]))
		}
	}
	return &TensorProto{Name: name, Dims: dims64(t.Shape), DataType: int32(t.DType), RawData: raw}, nil
}

// encodeValue writes a value's declared type: none when neither its
// element type nor its shape is known.
func encodeValue(v *Value) *ValueInfoProto {
	out := &ValueInfoProto{Name: v.Name}
	if v.DType == 0 && v.Dims == nil {
		return out
	}
	tt := &TypeProto_Tensor{ElemType: int32(v.DType)}
	if v.Dims != nil {
		tt.Shape = &TensorShapeProto{Dim: make([]*TensorShapeProto_Dimension, len(v.Dims))}
		for i, d := range v.Dims {
			dim := &TensorShapeProto_Dimension{}
			switch {
			case d >= 0:
				dim.Value = &TensorShapeProto_Dimension_DimValue{DimValue: d}
			case i < len(v.Params) && v.Params[i] != "":
				dim.Value = &TensorShapeProto_Dimension_DimParam{DimParam: v.Params[i]}
			}
			tt.Shape.Dim[i] = dim
		}
	}
	out.Type = &TypeProto{Value: &TypeProto_TensorType{TensorType: tt}}
	return out
}
