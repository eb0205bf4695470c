package onnx

import (
	"encoding/binary"
	"math"

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
		for _, a := range n.Attribute {
			if a.T != nil {
				if err := finiteTensor(n.Output[0], a.T); err != nil {
					return err
				}
			}
			if a.F != nil {
				if err := modelfile.CheckFiniteValues(n.Output[0], []float32{*a.F}); err != nil {
					return err
				}
			}
			if err := modelfile.CheckFiniteValues(n.Output[0], a.Floats); err != nil {
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
	n, err := elements(t)
	if err != nil {
		return nil, false
	}
	le := binary.LittleEndian
	switch TensorProto_DataType(t.DataType) {
	case TensorProto_FLOAT:
		v, err := floats(t)
		return v, err == nil
	case TensorProto_DOUBLE:
		if t.RawData != nil {
			if len(t.RawData) != 8*n {
				return nil, false
			}
			v := make([]float32, n)
			for i := range v {
				v[i] = float32(math.Float64frombits(le.Uint64(t.RawData[8*i:])))
			}
			return v, true
		}
		if len(t.DoubleData) != n {
			return nil, false
		}
		v := make([]float32, n)
		for i, d := range t.DoubleData {
			v[i] = float32(d)
		}
		return v, true
	case TensorProto_FLOAT16, TensorProto_BFLOAT16:
		widen := halfToFloat32
		if TensorProto_DataType(t.DataType) == TensorProto_BFLOAT16 {
			widen = func(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }
		}
		v := make([]float32, n)
		switch {
		case t.RawData != nil:
			if len(t.RawData) != 2*n {
				return nil, false
			}
			for i := range v {
				v[i] = widen(le.Uint16(t.RawData[2*i:]))
			}
		case len(t.Int32Data) == n: // the 16 bits of each value, in an int32
			for i, h := range t.Int32Data {
				v[i] = widen(uint16(h))
			}
		default:
			return nil, false
		}
		return v, true
	}
	return nil, false
}

// halfToFloat32 widens an IEEE 754 binary16 value exactly.
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
	case frac == 0:
		return math.Float32frombits(sign)
	}
	v := float32(math.Ldexp(float64(frac), -24)) // a subnormal half, exact in float32
	if sign != 0 {
		v = -v
	}
	return v
}
