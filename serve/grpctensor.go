package serve

import (
	"encoding/binary"
	"math"
	"net/http"

	"github.com/lenetkit/lenetkit/serve/oippb"
)

// grpcTensorData reads a gRPC input tensor's values, want of them, as the
// model's pixel values, as tensorData reads a JSON one's: from its
// contents (fp32_contents for FP32, uint_contents for UINT8) or from raw,
// the request's raw_input_contents, little-endian bytes. It says whether
// they were raw, for the answer to be so too.
func grpcTensorData(in *oippb.ModelInferRequest_InferInputTensor, raw [][]byte, want int) (*[]float32, bool, error) {
	uint8s, err := pixelDatatype(in.GetDatatype())
	if err != nil {
		return nil, false, err
	}
	shape := shapeString(in.GetShape())
	if len(raw) > 0 {
		if in.GetContents() != nil {
			return nil, false, fail(http.StatusBadRequest, "inputs[0] has contents and the request has raw_input_contents: give the values in one of them")
		}
		if len(raw) != 1 {
			return nil, false, fail(http.StatusBadRequest, "raw_input_contents has %d entries for the request's 1 input: give one", len(raw))
		}
		x, err := rawPixels(raw[0], uint8s, want, shape, in.GetDatatype())
		return x, true, err
	}
	c := in.GetContents()
	if c == nil {
		return nil, false, fail(http.StatusBadRequest, "inputs[0] has no contents and the request no raw_input_contents: give the tensor's values in one of them")
	}
	if uint8s {
		if len(c.GetFp32Contents()) > 0 {
			return nil, false, fail(http.StatusBadRequest, "inputs[0] is UINT8 but its values are in contents.fp32_contents: put them in uint_contents, or say FP32")
		}
		v := c.GetUintContents()
		if len(v) != want {
			return nil, false, fail(http.StatusBadRequest, "inputs[0].contents.uint_contents has %d value(s); shape %s needs %d", len(v), shape, want)
		}
		x := getFloats(want)
		for i, u := range v {
			if u > 255 {
				putFloats(x)
				return nil, false, fail(http.StatusBadRequest, "inputs[0].contents.uint_contents[%d] is %d; UINT8 values are whole numbers 0 to 255", i, u)
			}
			(*x)[i] = uint8Pixel(uint8(u))
		}
		return x, false, nil
	}
	if len(c.GetUintContents()) > 0 {
		return nil, false, fail(http.StatusBadRequest, "inputs[0] is FP32 but its values are in contents.uint_contents: put them in fp32_contents, or say UINT8")
	}
	v := c.GetFp32Contents()
	if len(v) != want {
		return nil, false, fail(http.StatusBadRequest, "inputs[0].contents.fp32_contents has %d value(s); shape %s needs %d", len(v), shape, want)
	}
	x := getFloats(want)
	copy(*x, v)
	if err := checkFinite(*x, "inputs[0].contents.fp32_contents"); err != nil {
		putFloats(x)
		return nil, false, err
	}
	return x, false, nil
}

// rawPixels reads a raw tensor of want UINT8 or FP32 values.
func rawPixels(b []byte, uint8s bool, want int, shape, datatype string) (*[]float32, error) {
	size, each := 4, "4 bytes a value, little-endian"
	if uint8s {
		size, each = 1, "a byte a value"
	}
	if len(b) != want*size {
		return nil, fail(http.StatusBadRequest, "raw_input_contents[0] has %d bytes; shape %s of %s needs %d (%s)", len(b), shape, datatype, want*size, each)
	}
	x := getFloats(want)
	if uint8s {
		for i, u := range b {
			(*x)[i] = uint8Pixel(u)
		}
		return x, nil
	}
	for i := range *x {
		(*x)[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	if err := checkFinite(*x, "raw_input_contents[0]"); err != nil {
		putFloats(x)
		return nil, err
	}
	return x, nil
}

// checkFinite refuses a NaN or an infinity: JSON cannot carry them, but
// protobuf's floats can, and a model's answer to one means nothing.
func checkFinite(x []float32, where string) error {
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fail(http.StatusBadRequest, "%s[%d] is %v, not a finite FP32 value; the model needs finite inputs", where, i, v)
		}
	}
	return nil
}

// fp32Bytes is x as raw tensor contents, little-endian.
func fp32Bytes(x []float32) []byte {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}
