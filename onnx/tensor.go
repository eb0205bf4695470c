package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"github.com/lenetkit/lenetkit/modelfile"
)

// DType is an ONNX tensor element type (TensorProto.DataType).
type DType int32

// The element types Tensor holds.
const (
	Float    = DType(TensorProto_FLOAT)
	Uint8    = DType(TensorProto_UINT8)
	Int8     = DType(TensorProto_INT8)
	Uint16   = DType(TensorProto_UINT16)
	Int16    = DType(TensorProto_INT16)
	Int32    = DType(TensorProto_INT32)
	Int64    = DType(TensorProto_INT64)
	String   = DType(TensorProto_STRING)
	Bool     = DType(TensorProto_BOOL)
	Float16  = DType(TensorProto_FLOAT16)
	Double   = DType(TensorProto_DOUBLE)
	Uint32   = DType(TensorProto_UINT32)
	Uint64   = DType(TensorProto_UINT64)
	BFloat16 = DType(TensorProto_BFLOAT16)
)

func (d DType) String() string {
	if s, ok := TensorProto_DataType_name[int32(d)]; ok {
		return s
	}
	return fmt.Sprintf("data type %d", int32(d))
}

// IsFloat reports whether d is a floating-point type, which Tensor holds
// in Float.
func (d DType) IsFloat() bool {
	return d == Float || d == Double || d == Float16 || d == BFloat16
}

// Size is the bytes of one element in raw_data, 0 for types without a
// fixed size (strings) or unknown ones.
func (d DType) Size() int {
	switch d {
	case Uint8, Int8, Bool:
		return 1
	case Uint16, Int16, Float16, BFloat16:
		return 2
	case Float, Int32, Uint32:
		return 4
	case Int64, Uint64, Double:
		return 8
	}
	return 0
}

// Tensor is a decoded tensor: floating-point types widened or rounded to
// float32 in Float (DOUBLE loses precision, FLOAT16 and BFLOAT16 none),
// integer and boolean types in Int (UINT64 above 2^63 wraps). A scalar's
// Shape is empty.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Float []float32
	Int   []int64
}

// Len is the number of elements.
func (t *Tensor) Len() int { return max(len(t.Float), len(t.Int)) }

// Floats returns the elements as float32, converting integers.
func (t *Tensor) Floats() []float32 {
	if t.Float != nil || t.Int == nil {
		return t.Float
	}
	f := make([]float32, len(t.Int))
	for i, v := range t.Int {
		f[i] = float32(v)
	}
	return f
}

// Ints returns the elements as int64, converting floats toward zero;
// NaN gives 0, and values outside int64's range saturate.
func (t *Tensor) Ints() []int64 {
	if t.Int != nil || t.Float == nil {
		return t.Int
	}
	v := make([]int64, len(t.Float))
	for k, f := range t.Float {
		switch {
		case f != f:
		case f >= 0x1p63:
			v[k] = math.MaxInt64
		case f < -0x1p63:
			v[k] = math.MinInt64
		default:
			v[k] = int64(f)
		}
	}
	return v
}

// DecodeTensor is the one decoder of ONNX tensors: every path reads a
// tensor's values through it. It refuses data that does not hold exactly
// the values the shape declares, in one form (raw or typed), tensors
// beyond modelfile's limits, external data not yet read in, and strings.
func DecodeTensor(p *TensorProto) (*Tensor, error) {
	t := &Tensor{Name: p.Name, DType: DType(p.DataType)}
	n, err := elements(p)
	if err != nil {
		return nil, err
	}
	t.Shape = make([]int, len(p.Dims))
	for i, d := range p.Dims {
		t.Shape[i] = int(d)
	}
	size := t.DType.Size()
	if size == 0 {
		return nil, fmt.Errorf("tensor %q is %s: %w", p.Name, t.DType, ErrUnsupported)
	}
	if p.RawData != nil {
		if typedLen(p) > 0 {
			return nil, modelfile.FormatErrorf("tensor %q stores its values twice, raw and typed", p.Name)
		}
		if len(p.RawData) != size*n {
			return nil, modelfile.FormatErrorf("tensor %q of shape %s has %d bytes of data, expected %d", p.Name, dimsString(p.Dims), len(p.RawData), size*n)
		}
		decodeRaw(t, p.RawData, n)
		return t, nil
	}
	if got := typedLen(p); got != n {
		return nil, modelfile.FormatErrorf("tensor %q of shape %s has %d values, expected %d", p.Name, dimsString(p.Dims), got, n)
	}
	decodeTyped(t, p, n)
	return t, nil
}

// typedLen is how many values the type's own field holds.
func typedLen(p *TensorProto) int {
	switch DType(p.DataType) {
	case Float:
		return len(p.FloatData)
	case Double:
		return len(p.DoubleData)
	case Int64:
		return len(p.Int64Data)
	case Uint32, Uint64:
		return len(p.Uint64Data)
	}
	return len(p.Int32Data) // every other type, 16-bit floats as their bits
}

func decodeRaw(t *Tensor, raw []byte, n int) {
	le := binary.LittleEndian
	if t.DType.IsFloat() {
		t.Float = make([]float32, n)
	} else {
		t.Int = make([]int64, n)
	}
	for i := 0; i < n; i++ {
		switch t.DType {
		case Float:
			t.Float[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
		case Double:
			t.Float[i] = float32(math.Float64frombits(le.Uint64(raw[8*i:])))
		case Float16:
			t.Float[i] = halfToFloat32(le.Uint16(raw[2*i:]))
		case BFloat16:
			t.Float[i] = math.Float32frombits(uint32(le.Uint16(raw[2*i:])) << 16)
		case Uint8:
			t.Int[i] = int64(raw[i])
		case Int8:
			t.Int[i] = int64(int8(raw[i]))
		case Bool:
			t.Int[i] = int64(min(raw[i], 1))
		case Uint16:
			t.Int[i] = int64(le.Uint16(raw[2*i:]))
		case Int16:
			t.Int[i] = int64(int16(le.Uint16(raw[2*i:])))
		case Int32:
			t.Int[i] = int64(int32(le.Uint32(raw[4*i:])))
		case Uint32:
			t.Int[i] = int64(le.Uint32(raw[4*i:]))
		case Int64, Uint64:
			t.Int[i] = int64(le.Uint64(raw[8*i:]))
		}
	}
}

func decodeTyped(t *Tensor, p *TensorProto, n int) {
	switch t.DType {
	case Float:
		t.Float = append(make([]float32, 0, n), p.FloatData...)
	case Double:
		t.Float = make([]float32, n)
		for i, v := range p.DoubleData {
			t.Float[i] = float32(v)
		}
	case Float16, BFloat16:
		t.Float = make([]float32, n)
		for i, v := range p.Int32Data {
			if t.DType == Float16 {
				t.Float[i] = halfToFloat32(uint16(v))
			} else {
				t.Float[i] = math.Float32frombits(uint32(uint16(v)) << 16)
			}
		}
	case Int64:
		t.Int = append(make([]int64, 0, n), p.Int64Data...)
	case Uint32, Uint64:
		t.Int = make([]int64, n)
		for i, v := range p.Uint64Data {
			t.Int[i] = int64(v)
		}
	default:
		t.Int = make([]int64, n)
		for i, v := range p.Int32Data {
			switch t.DType {
			case Uint8:
				v = int32(uint8(v))
			case Int8:
				v = int32(int8(v))
			case Uint16:
				v = int32(uint16(v))
			case Int16:
				v = int32(int16(v))
			case Bool:
				v = min(max(v, 0), 1)
			}
			t.Int[i] = int64(v)
		}
	}
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

// float32ToHalf is f rounded to the nearest IEEE half, ties to even, as
// numpy's astype(float16): past the largest half, infinity; NaN stays NaN.
func float32ToHalf(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp, frac := int32(b>>23)&0xff, b&0x7fffff
	if exp == 0xff {
		if frac != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15 // the half's biased exponent
	if e >= 0x1f {
		return sign | 0x7c00
	}
	m, shift := frac, uint32(13) // normal: 23 bits of fraction to 10
	if e <= 0 {
		// A subnormal half: the float's significand, its leading 1
		// shown, in units of 2^-24.
		m, shift, e = frac|0x800000, uint32(14-e), 0
		if shift > 24 {
			return sign
		}
	}
	h := uint32(e)<<10 | m>>shift
	rem, half := m&(1<<shift-1), uint32(1)<<(shift-1)
	if rem > half || rem == half && h&1 == 1 {
		h++ // a carry into the exponent is the next binade, or infinity
	}
	return sign | uint16(h)
}

// float32ToBFloat16 is f rounded to the nearest bfloat16, ties to even.
func float32ToBFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40 // NaN stays NaN
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

func dims64(shape []int) []int64 {
	d := make([]int64, len(shape))
	for i, v := range shape {
		d[i] = int64(v)
	}
	return d
}

// elements checks that t holds its data in the file and that its shape
// is within modelfile's limits, and returns its element count.
func elements(t *TensorProto) (int, error) {
	if t.DataLocation == TensorProto_EXTERNAL || len(t.ExternalData) > 0 {
		return 0, fmt.Errorf("tensor %q is stored in an external file, which is %w", t.Name, ErrUnsupported)
	}
	if len(t.Dims) > modelfile.MaxRank {
		return 0, modelfile.LimitErrorf("tensor %q has %d dimensions, more than %d", t.Name, len(t.Dims), modelfile.MaxRank)
	}
	n := 1
	for _, d := range t.Dims {
		if d < 0 {
			return 0, modelfile.FormatErrorf("tensor %q has dimension %d", t.Name, d)
		}
		if d > modelfile.MaxElements || int64(n)*d > modelfile.MaxElements {
			return 0, modelfile.LimitErrorf("tensor %q of shape %s has more than %d elements", t.Name, dimsString(t.Dims), modelfile.MaxElements)
		}
		n *= int(d)
	}
	return n, nil
}

// dimsString formats dims as lenet's errors format shapes: [32, 1, 3, 3].
func dimsString(dims []int64) string {
	parts := make([]string, len(dims))
	for i, d := range dims {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
