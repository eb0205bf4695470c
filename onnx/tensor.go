package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
)

// floatTensor makes a float32 tensor stored as raw little-endian bytes, the
// form torch.onnx.export writes and the most compact one.
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

func dims64(shape []int) []int64 {
	d := make([]int64, len(shape))
	for i, v := range shape {
		d[i] = int64(v)
	}
	return d
}

// elements checks that t holds its data in the file and returns its
// element count.
func elements(t *TensorProto) (int, error) {
	if t.DataLocation == TensorProto_EXTERNAL || len(t.ExternalData) > 0 {
		return 0, fmt.Errorf("tensor %q is stored in an external file, which is not supported", t.Name)
	}
	n := 1
	for _, d := range t.Dims {
		if d < 0 || d > math.MaxInt32 {
			return 0, fmt.Errorf("tensor %q has dimension %d", t.Name, d)
		}
		n *= int(d)
		if n > math.MaxInt32 {
			return 0, fmt.Errorf("tensor %q has more than %d elements", t.Name, math.MaxInt32)
		}
	}
	return n, nil
}

// floats returns the values of a float32 tensor, stored either as raw
// little-endian bytes or in float_data.
func floats(t *TensorProto) ([]float32, error) {
	if t.DataType != int32(TensorProto_FLOAT) {
		return nil, fmt.Errorf("tensor %q is %s, expected FLOAT", t.Name, dataTypeName(t.DataType))
	}
	n, err := elements(t)
	if err != nil {
		return nil, err
	}
	switch {
	case t.RawData != nil:
		if len(t.RawData) != 4*n {
			return nil, fmt.Errorf("tensor %q of shape %s has %d bytes of data, expected %d", t.Name, dimsString(t.Dims), len(t.RawData), 4*n)
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.RawData[4*i:]))
		}
		return v, nil
	case len(t.FloatData) == n:
		return append([]float32(nil), t.FloatData...), nil
	}
	return nil, fmt.Errorf("tensor %q of shape %s has %d values, expected %d", t.Name, dimsString(t.Dims), len(t.FloatData), n)
}

// int64s returns the values of an int64 tensor, stored either as raw
// little-endian bytes or in int64_data.
func int64s(t *TensorProto) ([]int64, error) {
	if t.DataType != int32(TensorProto_INT64) {
		return nil, fmt.Errorf("tensor %q is %s, expected INT64", t.Name, dataTypeName(t.DataType))
	}
	n, err := elements(t)
	if err != nil {
		return nil, err
	}
	switch {
	case t.RawData != nil:
		if len(t.RawData) != 8*n {
			return nil, fmt.Errorf("tensor %q of shape %s has %d bytes of data, expected %d", t.Name, dimsString(t.Dims), len(t.RawData), 8*n)
		}
		v := make([]int64, n)
		for i := range v {
			v[i] = int64(binary.LittleEndian.Uint64(t.RawData[8*i:]))
		}
		return v, nil
	case len(t.Int64Data) == n:
		return append([]int64(nil), t.Int64Data...), nil
	}
	return nil, fmt.Errorf("tensor %q of shape %s has %d values, expected %d", t.Name, dimsString(t.Dims), len(t.Int64Data), n)
}

func dataTypeName(dt int32) string {
	if s, ok := TensorProto_DataType_name[dt]; ok {
		return s
	}
	return fmt.Sprintf("data type %d", dt)
}

// dimsString formats dims as lenet's errors format shapes: [32, 1, 3, 3].
func dimsString(dims []int64) string {
	parts := make([]string, len(dims))
	for i, d := range dims {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
