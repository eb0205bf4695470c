package quantize

import (
	"slices"
	"strings"

	"github.com/lenetkit/lenetkit/onnx"
)

// Quantization is what a model holds or computes in integers, as
// Describe finds it.
type Quantization struct {
	// Form is "QDQ" (QuantizeLinear and DequantizeLinear around float
	// operators), "QOperator" (integer operators: QLinearConv,
	// QLinearMatMul, MatMulInteger...) or both, comma-separated, with
	// "dynamic" when scales are computed at run time
	// (DynamicQuantizeLinear).
	Form        string            `json:"form"`
	Activations int               `json:"activations"`
	Weights     int               `json:"weights"`
	Biases      int               `json:"biases"`
	Tensors     []QuantizedTensor `json:"tensors"`
}

// QuantizedTensor is one quantized tensor and its parameters: one scale
// and zero point, or per channel (Axis) their count and extremes.
type QuantizedTensor struct {
	// Tensor is the quantized tensor's name: the float activation a
	// QuantizeLinear (or an integer operator's input or output) stands
	// for, or a weight's or bias's integer initializer.
	Tensor string `json:"tensor"`
	Kind   string `json:"kind"` // "activation", "weight" or "bias"
	Type   string `json:"type"` // "UINT8", "INT8", "INT32", ...
	// Node is the node that quantizes, dequantizes or reads it.
	Node string `json:"node"`
	// Axis and Channels are a per-channel tensor's axis and its number of
	// scales.
	Axis     *int `json:"axis,omitempty"`
	Channels int  `json:"channels,omitempty"`
	// Scale and ZeroPoint are the per-tensor parameters; ZeroPoint is
	// also set for a per-channel tensor whose zero points are all equal.
	Scale     *float32 `json:"scale,omitempty"`
	ZeroPoint *int64   `json:"zero_point,omitempty"`
	// ScaleMin and ScaleMax (and ZeroPointMin and ZeroPointMax when the
	// zero points differ) sum up a per-channel tensor's parameters.
	ScaleMin     *float32 `json:"scale_min,omitempty"`
	ScaleMax     *float32 `json:"scale_max,omitempty"`
	ZeroPointMin *int64   `json:"zero_point_min,omitempty"`
	ZeroPointMax *int64   `json:"zero_point_max,omitempty"`
	// Scale of an int32 bias of an integer operator: its input's scale
	// times its weight's, said in ScaleOf.
	ScaleOf string `json:"scale_of,omitempty"`
	// Dynamic says the scale and zero point are computed at run time.
	Dynamic bool `json:"dynamic,omitempty"`
	// Unknown says a scale or zero point is not a constant of the file.
	Unknown bool `json:"unknown,omitempty"`
}

// quantOps are the operators of quantized graphs, which a DequantizeLinear
// output may feed without the graph being in QDQ form.
var quantOps = map[string]bool{
	"QuantizeLinear": true, "DequantizeLinear": true, "QLinearConv": true, "QLinearMatMul": true, "QLinearAdd": true,
	"QLinearMul": true, "MatMulInteger": true, "ConvInteger": true, "DynamicQuantizeLinear": true, "QGemm": true,
}

// QuantizedNode is the first node of m's graph that computes in or with
// integers, QDQ or QOperator (QuantizeLinear, QLinearConv, ...): m is
// quantized already. nil for a float graph.
func QuantizedNode(m *onnx.Model) *onnx.Node {
	if m == nil || m.Graph == nil {
		return nil
	}
	for _, n := range m.Graph.Nodes {
		if quantOps[n.OpType] {
			return n
		}
	}
	return nil
}

// Describe lists the quantized tensors of m, QDQ or QOperator, in the
// order the graph first quantizes them; nil when m has none.
func Describe(m *onnx.Model) *Quantization {
	if m == nil || m.Graph == nil {
		return nil
	}
	g := m.Graph
	consts := map[string]*onnx.Tensor{}
	for name, t := range g.Initializers {
		consts[name] = t
	}
	producer := map[string]*onnx.Node{}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			producer[o] = n
		}
		if n.OpType == "Constant" && len(n.Outputs) == 1 {
			if t, err := n.Attrs.ConstantValue(); err == nil && t != nil {
				consts[n.Outputs[0]] = t
			}
		}
	}
	readers := map[string][]*onnx.Node{}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			readers[in] = append(readers[in], n)
		}
	}
	q := &Quantization{}
	seen := map[string]bool{}
	forms := map[string]bool{}
	add := func(t QuantizedTensor) {
		if t.Tensor == "" || seen[t.Tensor] {
			return
		}
		seen[t.Tensor] = true
		switch t.Kind {
		case "weight":
			q.Weights++
		case "bias":
			q.Biases++
		default:
			q.Activations++
		}
		q.Tensors = append(q.Tensors, t)
	}
	kind := func(name string) string {
		if t, ok := consts[name]; ok {
			if t.DType == onnx.Int32 {
				return "bias"
			}
			return "weight"
		}
		return "activation"
	}
	// param describes a tensor with scale and zero point inputs; typ is
	// its type when no zero point says it.
	param := func(name, scale, zp string, typ string, axis int64, hasAxis bool, node *onnx.Node) QuantizedTensor {
		t := QuantizedTensor{Tensor: name, Kind: kind(name), Type: typ, Node: node.Label()}
		if z, ok := consts[zp]; ok {
			t.Type = z.DType.String()
		}
		if c, ok := consts[name]; ok && !c.DType.IsFloat() {
			t.Type = c.DType.String()
		}
		s, sok := consts[scale]
		z, zok := consts[zp]
		if !sok || (zp != "" && !zok) {
			t.Unknown = true
			return t
		}
		scales := s.Floats()
		var zps []int64
		if zok {
			zps = z.Ints()
		}
		if len(s.Shape) == 0 || len(scales) == 1 && !hasAxis {
			if len(scales) > 0 {
				t.Scale = &scales[0]
			}
			zero := int64(0)
			if len(zps) > 0 {
				zero = zps[0]
			}
			t.ZeroPoint = &zero
			return t
		}
		a := int(axis)
		t.Axis, t.Channels = &a, len(scales)
		lo, hi := slices.Min(scales), slices.Max(scales)
		t.ScaleMin, t.ScaleMax = &lo, &hi
		if len(zps) == 0 {
			zps = []int64{0}
		}
		zlo, zhi := slices.Min(zps), slices.Max(zps)
		if zlo == zhi {
			t.ZeroPoint = &zlo
		} else {
			t.ZeroPointMin, t.ZeroPointMax = &zlo, &zhi
		}
		return t
	}
	// fromQuantize says a value is a QuantizeLinear's output, listed
	// under the float tensor it quantizes.
	fromQuantize := func(name string) bool {
		p := producer[name]
		return p != nil && p.OpType == "QuantizeLinear"
	}
	axisOf := func(n *onnx.Node) (int64, bool) {
		a, err := n.Attrs.Int("axis", 1)
		return a, err == nil && n.Attrs.Has("axis")
	}
	for _, n := range g.Nodes {
		if n.Domain != "" && n.Domain != "ai.onnx" && n.Domain != "com.microsoft" {
			continue
		}
		switch n.OpType {
		case "QuantizeLinear":
			a, has := axisOf(n)
			t := param(n.Input(0), n.Input(1), n.Input(2), "UINT8", a, has, n)
			for _, r := range readers[n.Outputs[0]] {
				// A graph output quantized: its producer writes another
				// name, the DQ after the Q writes the output's.
				if r.OpType == "DequantizeLinear" && len(r.Outputs) > 0 && g.IsOutput(r.Outputs[0]) {
					t.Tensor = r.Outputs[0]
				}
			}
			if !t.Unknown && t.Axis != nil && !has {
				one := 1 // QuantizeLinear's default axis
				t.Axis = &one
			}
			add(t)
		case "DequantizeLinear":
			src := n.Input(0)
			if p := producer[src]; p != nil && quantOps[p.OpType] {
				// The DQ of a Q's output, or of an integer operator's:
				// the tensor is listed already, under its float name.
				// What it feeds says whether the graph is in QDQ form.
				for _, r := range readers[n.Outputs[0]] {
					if !quantOps[r.OpType] {
						forms["QDQ"] = true
					}
				}
				continue
			}
			a, has := axisOf(n)
			t := param(src, n.Input(1), n.Input(2), "", a, has, n)
			if !t.Unknown && t.Axis != nil && !has {
				one := 1
				t.Axis = &one
			}
			add(t)
			for _, r := range readers[n.Outputs[0]] {
				if !quantOps[r.OpType] {
					forms["QDQ"] = true
				}
			}
		case "QLinearConv", "QLinearMatMul":
			forms["QOperator"] = true
			wAxis := int64(0)
			if n.OpType == "QLinearMatMul" {
				wAxis = 1
			}
			if !fromQuantize(n.Input(0)) {
				add(param(n.Input(0), n.Input(1), n.Input(2), "UINT8", 1, false, n))
			}
			if !fromQuantize(n.Input(3)) {
				add(param(n.Input(3), n.Input(4), n.Input(5), "INT8", wAxis, true, n))
			}
			if len(n.Outputs) > 0 {
				add(param(n.Outputs[0], n.Input(6), n.Input(7), "UINT8", 1, false, n))
			}
			if b := n.Input(8); b != "" {
				t := QuantizedTensor{Tensor: b, Kind: "bias", Type: "INT32", Node: n.Label(), ScaleOf: n.Input(1) + " x " + n.Input(4)}
				if c, ok := consts[b]; ok {
					t.Type = c.DType.String()
				}
				add(t)
			}
		case "QGemm":
			// ONNX Runtime's: QLinearMatMul's inputs but the bias C (6)
			// before the output's scale and zero point (7, 8); B's scales
			// per column of the product, its axis 0 when transposed.
			forms["QOperator"] = true
			wAxis := int64(1)
			if t, _ := n.Attrs.Int("transB", 0); t != 0 {
				wAxis = 0
			}
			if !fromQuantize(n.Input(0)) {
				add(param(n.Input(0), n.Input(1), n.Input(2), "UINT8", 1, false, n))
			}
			if !fromQuantize(n.Input(3)) {
				add(param(n.Input(3), n.Input(4), n.Input(5), "INT8", wAxis, true, n))
			}
			if b := n.Input(6); b != "" {
				add(QuantizedTensor{Tensor: b, Kind: "bias", Type: "INT32", Node: n.Label(), ScaleOf: n.Input(1) + " x " + n.Input(4)})
			}
			if len(n.Outputs) > 0 && n.Input(7) != "" {
				add(param(n.Outputs[0], n.Input(7), n.Input(8), "UINT8", 1, false, n))
			}
		case "QLinearAdd", "QLinearMul":
			forms["QOperator"] = true
			for _, i := range []int{0, 3} {
				if !fromQuantize(n.Input(i)) {
					add(param(n.Input(i), n.Input(i+1), n.Input(i+2), "UINT8", 1, false, n))
				}
			}
			if len(n.Outputs) > 0 {
				add(param(n.Outputs[0], n.Input(6), n.Input(7), "UINT8", 1, false, n))
			}
		case "DynamicQuantizeLinear":
			forms["dynamic"] = true
			add(QuantizedTensor{Tensor: n.Input(0), Kind: "activation", Type: "UINT8", Node: n.Label(), Dynamic: true})
		case "MatMulInteger", "ConvInteger":
			forms["QOperator"] = true
			for i := range 2 {
				in := n.Input(i)
				if p := producer[in]; p != nil && p.OpType == "DynamicQuantizeLinear" {
					continue
				}
				t := QuantizedTensor{Tensor: in, Kind: kind(in), Type: "UINT8", Node: n.Label()}
				if c, ok := consts[in]; ok {
					t.Type = c.DType.String()
				} else if v := valueType(g, in); v != 0 {
					t.Type = v.String()
				}
				if z, ok := consts[n.Input(i+2)]; ok {
					if _, weight := consts[in]; !weight {
						t.Type = z.DType.String()
					}
					zps := z.Ints()
					if len(zps) > 0 {
						lo, hi := slices.Min(zps), slices.Max(zps)
						if lo == hi {
							t.ZeroPoint = &lo
						} else {
							t.ZeroPointMin, t.ZeroPointMax = &lo, &hi
						}
					}
				} else {
					zero := int64(0)
					t.ZeroPoint = &zero
				}
				add(t)
			}
		}
	}
	if len(q.Tensors) == 0 {
		return nil
	}
	var f []string
	for _, k := range []string{"QDQ", "QOperator", "dynamic"} {
		if forms[k] {
			f = append(f, k)
		}
	}
	q.Form = strings.Join(f, ", ")
	if q.Form == "" {
		q.Form = "QDQ"
	}
	return q
}

// valueType is a graph input's or intermediate value's declared element
// type, 0 when the file does not say.
func valueType(g *onnx.Graph, name string) onnx.DType {
	for _, v := range g.Inputs {
		if v.Name == name {
			return v.DType
		}
	}
	if v, ok := g.ValueInfo[name]; ok {
		return v.DType
	}
	return 0
}
