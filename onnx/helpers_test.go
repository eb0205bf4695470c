package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Writers of tensors and attributes for the tests' graphs.

func floatTensor(name string, shape []int, data []float32) *TensorProto {
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return &TensorProto{Name: name, Dims: dims64(shape), DataType: int32(TensorProto_FLOAT), RawData: raw}
}

// int64Tensor makes an int64 tensor stored as raw little-endian bytes.
func int64Tensor(name string, shape []int, data []int64) *TensorProto {
	raw := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
	}
	return &TensorProto{Name: name, Dims: dims64(shape), DataType: int32(TensorProto_INT64), RawData: raw}
}

// floats returns the values of a float32 tensor.
func floats(p *TensorProto) ([]float32, error) {
	if DType(p.DataType) != Float {
		return nil, fmt.Errorf("tensor %q is %s, expected FLOAT", p.Name, DType(p.DataType))
	}
	t, err := DecodeTensor(p)
	if err != nil {
		return nil, err
	}
	return t.Float, nil
}

func attrInt(name string, v int64) *AttributeProto {
	return &AttributeProto{Name: name, Type: AttributeProto_INT, I: &v}
}

func attrInts(name string, v ...int64) *AttributeProto {
	return &AttributeProto{Name: name, Type: AttributeProto_INTS, Ints: v}
}
