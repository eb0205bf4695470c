package backend

import (
	"fmt"
	"math"

	"gorgonia.org/tensor"
)

// constant is a value known when the graph is compiled: a weight, or the
// result of shape arithmetic folded at load. Floats and integers are kept
// apart because shape arithmetic is integer arithmetic.
type constant struct {
	shape []int
	f     []float32 // float tensors
	i     []int64   // integer and boolean tensors
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

// fromTensor converts what onnx-go decoded.
func fromTensor(t tensor.Tensor) (*constant, error) {
	c := &constant{shape: append([]int(nil), t.Shape()...)}
	if t.Shape().IsScalar() {
		c.shape = nil
	}
	n, err := elements(c.shape)
	if err != nil {
		return nil, err
	}
	switch d := t.Data().(type) {
	case []float32:
		c.f = append([]float32{}, d...)
	case float32:
		c.f = []float32{d}
	case []float64:
		c.f = make([]float32, len(d))
		for k, v := range d {
			c.f[k] = float32(v)
		}
	case float64:
		c.f = []float32{float32(d)}
	case []int64:
		c.i = append([]int64{}, d...)
	case int64:
		c.i = []int64{d}
	case []int32:
		c.i = make([]int64, len(d))
		for k, v := range d {
			c.i[k] = int64(v)
		}
	case int32:
		c.i = []int64{int64(d)}
	case []bool:
		c.i = make([]int64, len(d))
		for k, v := range d {
			if v {
				c.i[k] = 1
			}
		}
	case bool:
		c.i = []int64{0}
		if d {
			c.i[0] = 1
		}
	default:
		return nil, fmt.Errorf("tensor of %v is not supported", t.Dtype())
	}
	if got := max(len(c.f), len(c.i)); got != n {
		return nil, fmt.Errorf("tensor of shape %v holds %d values", c.shape, got)
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
}
