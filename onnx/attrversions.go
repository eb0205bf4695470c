package onnx

import (
	"fmt"
	"maps"
	"slices"
)

// attrSpan is the opsets an operator's attribute exists in: from since
// (0: from the operator's first version) up to, not including, until (0:
// still).
type attrSpan struct{ since, until int64 }

// attrSpans are the attributes of the default domain's operators that came
// or went after opset 7, from ONNX's operator changelog: those that became
// inputs, and those added later. An attribute outside its span is not in
// the operator's schema at the file's opset, and ONNX's checker, and so
// ONNX Runtime, refuses the node ("Unrecognized attribute").
var attrSpans = map[string]map[string]attrSpan{
	"BatchNormalization": {"spatial": {until: 9}},
	"Clip":               {"min": {until: 11}, "max": {until: 11}},
	"Pad":                {"pads": {until: 11}, "value": {until: 11}},
	"Slice":              {"starts": {until: 10}, "ends": {until: 10}, "axes": {until: 10}},
	"TopK":               {"k": {until: 10}},
	"Dropout":            {"ratio": {until: 12}, "seed": {since: 12}},
	"Squeeze":            {"axes": {until: 13}},
	"Unsqueeze":          {"axes": {until: 13}},
	"ReduceSum":          {"axes": {until: 13}, "noop_with_empty_axes": {since: 13}},
	"ReduceMean":         {"axes": {until: 18}, "noop_with_empty_axes": {since: 18}},
	"ReduceMax":          {"axes": {until: 18}, "noop_with_empty_axes": {since: 18}},
	"ReduceMin":          {"axes": {until: 18}, "noop_with_empty_axes": {since: 18}},
	"ReduceProd":         {"axes": {until: 18}, "noop_with_empty_axes": {since: 18}},
	"Split":              {"split": {until: 13}, "num_outputs": {since: 18}},
	"QuantizeLinear":     {"axis": {since: 13}, "saturate": {since: 19}, "block_size": {since: 21}, "output_dtype": {since: 21}},
	"DequantizeLinear":   {"axis": {since: 13}, "block_size": {since: 21}},
	"MaxPool":            {"dilations": {since: 10}, "ceil_mode": {since: 10}},
	"AveragePool":        {"ceil_mode": {since: 10}, "dilations": {since: 19}},
	"ArgMax":             {"select_last_index": {since: 12}},
	"ArgMin":             {"select_last_index": {since: 12}},
	"Resize":             {"coordinate_transformation_mode": {since: 11}, "cubic_coeff_a": {since: 11}, "exclude_outside": {since: 11}, "extrapolation_value": {since: 11}, "nearest_mode": {since: 11}, "antialias": {since: 18}, "axes": {since: 18}, "keep_aspect_ratio_policy": {since: 18}},
}

// StrayAttribute is a node's attribute that its operator does not have at
// the model's opset: one from before a change (Squeeze's axes at opset 13,
// where they are an input) or from after it (DequantizeLinear's axis at
// opset 12, written by quantizers that raised no opset). lenetkit reads
// such a node as the attribute says; ONNX Runtime refuses the file.
type StrayAttribute struct {
	Node         *Node
	Name         string
	Opset        int64 // the model's
	since, until int64
}

func (s StrayAttribute) String() string {
	if s.until != 0 && s.Opset >= s.until {
		return fmt.Sprintf("%s: attribute %s is gone from %s at opset %d (an input or removed since opset %d)", s.Node.Describe(), s.Name, OpName(s.Node.OpType), s.Opset, s.until)
	}
	return fmt.Sprintf("%s: attribute %s is not in %s at opset %d (it came at opset %d)", s.Node.Describe(), s.Name, OpName(s.Node.OpType), s.Opset, s.since)
}

// StrayAttributes lists the attributes of m's default-domain nodes that
// their operators do not have at m's opset, as far as attrSpans knows
// them, in node order.
func StrayAttributes(m *Model) []StrayAttribute {
	if m == nil || m.Graph == nil {
		return nil
	}
	var out []StrayAttribute
	for _, n := range m.Graph.Nodes {
		spans := attrSpans[n.OpType]
		if spans == nil || !isDefaultDomain(n.Domain) {
			continue
		}
		for _, name := range slices.Sorted(maps.Keys(n.Attrs)) {
			s, ok := spans[name]
			if ok && (m.Opset < s.since || s.until != 0 && m.Opset >= s.until) {
				out = append(out, StrayAttribute{Node: n, Name: name, Opset: m.Opset, since: s.since, until: s.until})
			}
		}
	}
	return out
}
