package onnx

import (
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/lenetkit/lenetkit/modelfile"
)

// Attr is one decoded attribute: exactly one of its fields is set, as its
// Type says. Subgraphs (If, Loop, Scan) are kept only as a count, as no
// operator lenetkit runs has one.
type Attr struct {
	Type    AttributeProto_AttributeType
	Int     int64
	Float   float32
	String  string
	Ints    []int64
	Floats  []float32
	Strings []string
	Tensor  *Tensor
	Graphs  int
}

// Attrs are a node's attributes by name.
type Attrs map[string]Attr

// decodeAttrs is the one reader of ONNX attributes: every path reads a
// node's attributes through it.
func decodeAttrs(n *NodeProto) (Attrs, error) {
	a := make(Attrs, len(n.Attribute))
	for _, p := range n.Attribute {
		if _, dup := a[p.Name]; dup {
			return nil, modelfile.FormatErrorf("attribute %s given twice", OpName(p.Name))
		}
		v := Attr{Type: p.Type, Floats: p.Floats, Ints: p.Ints}
		if v.Type == AttributeProto_UNDEFINED {
			v.Type = inferAttrType(p) // IR version 1 files leave it out
		}
		switch v.Type {
		case AttributeProto_INT:
			v.Int = p.GetI()
		case AttributeProto_FLOAT:
			v.Float = p.GetF()
		case AttributeProto_STRING:
			v.String = string(p.S)
		case AttributeProto_STRINGS:
			for _, s := range p.Strings {
				v.Strings = append(v.Strings, string(s))
			}
		case AttributeProto_TENSOR:
			if p.T == nil {
				return nil, modelfile.FormatErrorf("attribute %s is a TENSOR without one", OpName(p.Name))
			}
			t, err := DecodeTensor(p.T)
			if err != nil {
				return nil, fmt.Errorf("attribute %s: %w", OpName(p.Name), err)
			}
			v.Tensor = t
		case AttributeProto_GRAPH, AttributeProto_GRAPHS:
			v.Graphs = len(p.Graphs)
			if p.G != nil {
				v.Graphs++
			}
		}
		a[p.Name] = v
	}
	return a, nil
}

// inferAttrType reads the type from the field that is set.
func inferAttrType(p *AttributeProto) AttributeProto_AttributeType {
	switch {
	case p.I != nil:
		return AttributeProto_INT
	case p.F != nil:
		return AttributeProto_FLOAT
	case p.S != nil:
		return AttributeProto_STRING
	case p.T != nil:
		return AttributeProto_TENSOR
	case p.G != nil:
		return AttributeProto_GRAPH
	case len(p.Ints) > 0:
		return AttributeProto_INTS
	case len(p.Floats) > 0:
		return AttributeProto_FLOATS
	case len(p.Strings) > 0:
		return AttributeProto_STRINGS
	}
	return AttributeProto_UNDEFINED
}

func (a Attrs) typed(name string, want AttributeProto_AttributeType) (Attr, bool, error) {
	v, ok := a[name]
	if !ok {
		return v, false, nil
	}
	if v.Type != want {
		return v, false, modelfile.FormatErrorf("attribute %s is %s, expected %s", name, v.Type, want)
	}
	return v, true, nil
}

// Names returns the attributes' names in sorted order, so that what is
// said of a file is the same every time.
func (a Attrs) Names() []string { return slices.Sorted(maps.Keys(a)) }

// Subgraphs returns the sorted names of the attributes that hold
// subgraphs (If's branches, Loop's and Scan's body).
func (a Attrs) Subgraphs() []string {
	var names []string
	for _, name := range a.Names() {
		if a[name].Graphs > 0 {
			names = append(names, name)
		}
	}
	return names
}

// Has reports whether the attribute is given.
func (a Attrs) Has(name string) bool { _, ok := a[name]; return ok }

// Int returns the INT attribute name, or def when it is absent.
func (a Attrs) Int(name string, def int64) (int64, error) {
	v, ok, err := a.typed(name, AttributeProto_INT)
	if !ok {
		return def, err
	}
	return v.Int, nil
}

// Float returns the FLOAT attribute name, or def when it is absent.
func (a Attrs) Float(name string, def float32) (float32, error) {
	v, ok, err := a.typed(name, AttributeProto_FLOAT)
	if !ok {
		return def, err
	}
	return v.Float, nil
}

// Str returns the STRING attribute name, or def when it is absent.
func (a Attrs) Str(name, def string) (string, error) {
	v, ok, err := a.typed(name, AttributeProto_STRING)
	if !ok {
		return def, err
	}
	return v.String, nil
}

// Ints returns the INTS attribute name, or nil when it is absent.
func (a Attrs) Ints(name string) ([]int64, error) {
	v, _, err := a.typed(name, AttributeProto_INTS)
	return v.Ints, err
}

// Floats returns the FLOATS attribute name, or nil when it is absent.
func (a Attrs) Floats(name string) ([]float32, error) {
	v, _, err := a.typed(name, AttributeProto_FLOATS)
	return v.Floats, err
}

// Tensor returns the TENSOR attribute name, or nil when it is absent.
func (a Attrs) Tensor(name string) (*Tensor, error) {
	v, _, err := a.typed(name, AttributeProto_TENSOR)
	return v.Tensor, err
}

// ConstantValue returns a Constant node's value, whichever attribute
// holds it; never nil without an error.
func (a Attrs) ConstantValue() (*Tensor, error) {
	for name, v := range a {
		want := map[string]AttributeProto_AttributeType{"value": AttributeProto_TENSOR, "value_float": AttributeProto_FLOAT,
			"value_floats": AttributeProto_FLOATS, "value_int": AttributeProto_INT, "value_ints": AttributeProto_INTS}[name]
		if want != 0 && (v.Type != want || want == AttributeProto_TENSOR && v.Tensor == nil) {
			return nil, modelfile.FormatErrorf("a Constant's attribute %s is %s, not %s", name, v.Type, want)
		}
		switch name {
		case "value":
			return v.Tensor, nil
		case "value_float":
			return &Tensor{DType: Float, Float: []float32{v.Float}}, nil
		case "value_floats":
			return &Tensor{DType: Float, Shape: []int{len(v.Floats)}, Float: v.Floats}, nil
		case "value_int":
			return &Tensor{DType: Int64, Int: []int64{v.Int}}, nil
		case "value_ints":
			return &Tensor{DType: Int64, Shape: []int{len(v.Ints)}, Int: v.Ints}, nil
		}
	}
	return nil, fmt.Errorf("a Constant without a value lenetkit reads (value, value_float(s), value_int(s)): %w", ErrUnsupported)
}

// OpName is an operator's name as an error shows it: as it is when it is
// a name (letters, digits, '_', '.'), else quoted, so that a file cannot
// break the one line an error takes, or hide what follows.
func OpName(s string) string {
	for _, r := range s {
		if !(r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return strconv.Quote(s)
		}
	}
	if s == "" {
		return `""`
	}
	return s
}
