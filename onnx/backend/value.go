package backend

import (
	"math"

	"github.com/lenetkit/lenetkit/onnx"
)

// constant is a value known when the graph is compiled: a weight, or the
// result of shape arithmetic folded at load. Floats and integers are kept
// apart because shape arithmetic is integer arithmetic.
type constant struct {
	shape []int
	f     []float32 // float tensors
	i     []int64   // integer and boolean tensors
	// dt is the element type the file gave the tensor (0 when the
	// constant was folded from others): the quantized operators tell a
	// uint8 zero point from an int8 one by it.
	dt onnx.DType
	// The other type's copy, made once: a constant read by many nodes
	// would otherwise be converted for each of them.
	asF []float32
	asI []int64
}

func (c *constant) isInt() bool { return c.i != nil || c.f == nil && numel(c.shape) == 0 }

// bytes is what the constant's values take.
func (c *constant) bytes() int64 { return 4*int64(len(c.f)) + 8*int64(len(c.i)) }

// floats returns the elements as float32 (Cast to float).
func (c *constant) floats() []float32 {
	if c.f != nil || c.i == nil {
		return c.f
	}
	if c.asF == nil {
		c.asF = make([]float32, len(c.i))
		for k, v := range c.i {
			c.asF[k] = float32(v)
		}
	}
	return c.asF
}

// ints returns the elements as int64; floats outside int64's range, and
// NaN, are saturated or made 0 rather than left to the platform.
func (c *constant) ints() []int64 {
	if c.i != nil || c.f == nil {
		return c.i
	}
	if c.asI == nil {
		c.asI = make([]int64, len(c.f))
		for k, v := range c.f {
			switch {
			case v != v:
			case v >= 0x1p63:
				c.asI[k] = math.MaxInt64
			case v < -0x1p63:
				c.asI[k] = math.MinInt64
			default:
				c.asI[k] = int64(v)
			}
		}
	}
	return c.asI
}

// fromTensor takes a decoded tensor's values: floating-point types as
// floats, integer and boolean types as integers.
func fromTensor(t *onnx.Tensor) (*constant, error) {
	if _, err := elements(t.Shape); err != nil {
		return nil, err
	}
	c := &constant{shape: t.Shape, f: t.Float, i: t.Int, dt: t.DType}
	if len(c.shape) == 0 {
		c.shape = nil // a scalar
	}
	switch {
	case c.f != nil || c.i != nil:
	case t.DType.IsFloat():
		c.f = []float32{}
	default:
		c.i = []int64{}
	}
	return c, nil
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// val is one value of the graph as the compiler sees it: a constant, or a
// buffer the plan writes at run time, with its shape for one image (the
// batch dimension is 1).
type val struct {
	shape []int
	c     *constant // non-nil: known at load
	buf   int       // run-time buffer
	// nhwc marks a 4-D run-time value stored channels-last, as the fused
	// blocks read and write it; every other operator sees NCHW.
	nhwc bool
	// logProb marks the output of a Softmax computed as LogSoftmax: a
	// classifier reads log-probabilities as it reads logits.
	logProb bool
	// relu marks the output of a Relu not yet applied: buf holds the
	// Relu's input, and the one MaxPool that reads the value applies it
	// to the pooled values (the two commute). Anything else reading it
	// materializes it first.
	relu bool
	// dt is the element type of a run-time value: 0 for float32 numbers,
	// which every operator but the quantized ones reads; onnx.Uint8 or
	// onnx.Int8 for bytes packed four to a slot of the buffer's memory;
	// onnx.Int32 for int32 bits in the slots, never float32 numbers, as
	// an accumulator may exceed 2^24 (ops_quant.go).
	dt onnx.DType
	// flatC and flatHW, for a value flattened from a channels-last map,
	// are the map's channels and pixels: its values are in (H, W, C)
	// order, not ONNX's (C, H, W). 0 otherwise. An 8-bit value keeps that
	// order for any reader that handles it (ops_quant_nhwc.go), a float
	// one only for dense layers that read it so (ops_gemm.go).
	flatC, flatHW int
}
