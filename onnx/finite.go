package onnx

import (
	"github.com/lenetkit/lenetkit/modelfile"
)

// CheckFinite refuses a model with a NaN or infinite weight: in an
// initializer or a Constant node's tensor of any floating-point type. The
// error names the tensor. opt.AllowNonFinite accepts them.
func CheckFinite(m *ModelProto, opt modelfile.ReadOptions) error {
	if opt.AllowNonFinite || m.GetGraph() == nil {
		return nil
	}
	for _, t := range m.Graph.Initializer {
		if err := finiteTensor(t.Name, t); err != nil {
			return err
		}
	}
	for _, n := range m.Graph.Node {
		if n.OpType != "Constant" || !isDefaultDomain(n.Domain) || len(n.Output) == 0 {
			continue
		}
		attrs, err := decodeAttrs(n)
		if err != nil {
			continue // the readers refuse it with a better error
		}
		for _, a := range attrs {
			values := a.Floats
			switch {
			case a.Tensor != nil:
				values = a.Tensor.Float
			case a.Type == AttributeProto_FLOAT:
				values = []float32{a.Float}
			}
			if err := modelfile.CheckFiniteValues(n.Output[0], values); err != nil {
				return err
			}
		}
	}
	return nil
}

func finiteTensor(name string, t *TensorProto) error {
	v, ok := floatValues(t)
	if !ok {
		return nil
	}
	return modelfile.CheckFiniteValues(name, v)
}

// floatValues returns the values of a tensor of a floating-point type as
// float32 (doubles rounded, halves widened exactly), or false for another
// type or data that does not fit the shape.
func floatValues(t *TensorProto) ([]float32, bool) {
	if !DType(t.DataType).IsFloat() {
		return nil, false
	}
	v, err := DecodeTensor(t)
	if err != nil {
		return nil, false
	}
	return v.Float, true
}
