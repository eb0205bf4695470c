package backend

import (
	"fmt"
	"math"

	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

// validate checks a model read by onnx.Unmarshal, which has already bounded
// its nesting and node count and validated its graph (onnx.Validate:
// topological order, one producer per value, no Constant shadowing an
// initializer), before the backend builds anything from it: the graph again,
// for models that did not come through Unmarshal; every tensor's shape and
// data, which onnx-go allocates from; its weights and float attributes,
// refused when NaN or infinite unless opt allows them. It returns the bytes
// to hand onnx-go: m encoded again, so that onnx-go's decoder, which reads
// fields outside lenetkit's onnx.proto with its own limits, sees only what
// was checked, and without the declared shapes of the graph's inputs and
// outputs, for which onnx-go would allocate a tensor each (an input
// declared [N, 4096, 4096, 4096] is 256 GB) and which the compiler reads
// from m.
func validate(m *onnx.ModelProto, opt modelfile.ReadOptions) ([]byte, error) {
	if err := onnx.Validate(m); err != nil {
		return nil, fmt.Errorf("invalid graph: %w", err)
	}
	for _, t := range m.Graph.Initializer {
		if err := checkTensor(t); err != nil {
			return nil, fmt.Errorf("initializer %q: %w", t.Name, err)
		}
	}
	for i, n := range m.Graph.Node {
		if err := checkAttributes(n, opt); err != nil {
			return nil, fmt.Errorf("%s: %w", describe(i, n), err)
		}
	}
	if err := onnx.CheckFinite(m, opt); err != nil {
		return nil, err
	}
	g := *m.Graph
	g.Input, g.Output = shapeless(g.Input), shapeless(g.Output)
	forGo := *m
	forGo.Graph = &g
	return onnx.Marshal(&forGo)
}

// describe names node i for errors as the compiler does.
func describe(i int, n *onnx.NodeProto) string {
	if n.Name != "" {
		return fmt.Sprintf("node %d (%s %q)", i, n.OpType, n.Name)
	}
	return fmt.Sprintf("node %d (%s)", i, n.OpType)
}

// checkTensor refuses a tensor whose shape is beyond the limits or whose
// data does not hold exactly the values its shape declares, in one form:
// onnx-go allocates a tensor of the declared shape when it finds no data.
func checkTensor(t *onnx.TensorProto) error {
	n, err := elements(t.Dims)
	if err != nil {
		return err
	}
	size := elementSize(t.DataType)
	var typed int // values in the type's own field
	switch onnx.TensorProto_DataType(t.DataType) {
	case onnx.TensorProto_FLOAT:
		typed = len(t.FloatData)
	case onnx.TensorProto_DOUBLE:
		typed = len(t.DoubleData)
	case onnx.TensorProto_INT64:
		typed = len(t.Int64Data)
	case onnx.TensorProto_INT32, onnx.TensorProto_BOOL:
		typed = len(t.Int32Data)
	default:
		return nil // onnx-go refuses the type before it allocates
	}
	stored := typed
	if t.RawData != nil {
		if typed > 0 {
			return modelfile.FormatErrorf("tensor %q stores its values twice, raw and typed", t.Name)
		}
		if int64(len(t.RawData))%size != 0 {
			return modelfile.FormatErrorf("tensor %q of %s has %d bytes of data, not a whole number of values", t.Name, onnx.TensorProto_DataType(t.DataType), len(t.RawData))
		}
		stored = int(int64(len(t.RawData)) / size)
	}
	if stored != n {
		return modelfile.FormatErrorf("tensor %q of shape %v holds %d values, not %d", t.Name, t.Dims, stored, n)
	}
	return nil
}

// checkAttributes refuses the attributes of n that would make the plan
// compute wrong numbers: a NaN or infinite float (Gemm's alpha, a Pad's
// value) unless opt allows them, as weights are, and BatchNormalization's
// epsilon below 0, whose square root of variance plus epsilon may be of
// a negative number (ONNX gives it no range; no exporter writes one). It
// checks the tensors of tensor attributes as checkTensor does.
func checkAttributes(n *onnx.NodeProto, opt modelfile.ReadOptions) error {
	for _, a := range n.Attribute {
		for _, t := range append([]*onnx.TensorProto{a.T}, a.Tensors...) {
			if t == nil {
				continue
			}
			if err := checkTensor(t); err != nil {
				return fmt.Errorf("attribute %s: %w", a.Name, err)
			}
		}
		if a.F != nil && a.Name == "epsilon" && n.OpType == "BatchNormalization" && *a.F < 0 {
			return modelfile.FormatErrorf("attribute epsilon %g is negative", *a.F)
		}
		if opt.AllowNonFinite {
			continue
		}
		values := a.Floats
		if a.F != nil {
			values = append([]float32{*a.F}, values...)
		}
		for _, v := range values {
			if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
				return fmt.Errorf("attribute %s is %v; refused (--allow-nonfinite accepts it)", a.Name, f)
			}
		}
	}
	return nil
}

// shapeless copies value infos without their declared shapes, keeping
// their types.
func shapeless(vs []*onnx.ValueInfoProto) []*onnx.ValueInfoProto {
	out := make([]*onnx.ValueInfoProto, len(vs))
	for i, v := range vs {
		w := *v
		if t := v.GetType().GetTensorType(); t != nil {
			w.Type = &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{ElemType: t.ElemType}}}
		}
		out[i] = &w
	}
	return out
}
