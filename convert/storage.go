package convert

import (
	"encoding/binary"
	"math"

	"github.com/lenetkit/lenetkit/lenet"
)

// storageType is one of torch's typed storage classes (torch.FloatStorage
// and kin), the element type a pickled storage declares.
type storageType struct {
	name    string // as pickled: "FloatStorage"
	size    int    // bytes per element
	float   bool   // converts to lenet.Float32, else to lenet.Int64
	toFloat func(b []byte) float32
	toInt   func(b []byte) int64
}

func (s *storageType) dtype() lenet.DType {
	if s.float {
		return lenet.Float32
	}
	return lenet.Int64
}

// storageTypes are the storage classes a state dict of float and integer
// tensors can name. Complex and quantized storages are left out: they have
// no lenet.DType to land in.
var storageTypes = map[string]*storageType{}

func init() {
	le := binary.LittleEndian
	for _, s := range []*storageType{
		{name: "FloatStorage", size: 4, float: true, toFloat: func(b []byte) float32 { return math.Float32frombits(le.Uint32(b)) }},
		{name: "DoubleStorage", size: 8, float: true, toFloat: func(b []byte) float32 { return float32(math.Float64frombits(le.Uint64(b))) }},
		{name: "HalfStorage", size: 2, float: true, toFloat: func(b []byte) float32 { return halfToFloat32(le.Uint16(b)) }},
		{name: "BFloat16Storage", size: 2, float: true, toFloat: func(b []byte) float32 { return math.Float32frombits(uint32(le.Uint16(b)) << 16) }},
		{name: "LongStorage", size: 8, toInt: func(b []byte) int64 { return int64(le.Uint64(b)) }},
		{name: "IntStorage", size: 4, toInt: func(b []byte) int64 { return int64(int32(le.Uint32(b))) }},
		{name: "ShortStorage", size: 2, toInt: func(b []byte) int64 { return int64(int16(le.Uint16(b))) }},
		{name: "CharStorage", size: 1, toInt: func(b []byte) int64 { return int64(int8(b[0])) }},
		{name: "ByteStorage", size: 1, toInt: func(b []byte) int64 { return int64(b[0]) }},
		{name: "BoolStorage", size: 1, toInt: func(b []byte) int64 {
			if b[0] != 0 {
				return 1
			}
			return 0
		}},
	} {
		storageTypes[s.name] = s
	}
}

// halfToFloat32 widens an IEEE 754 binary16 value exactly, subnormals, infinities
// and NaN payloads included.
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN: keep the payload in the top fraction bits
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
	case frac == 0:
		return math.Float32frombits(sign)
	}
	// Subnormal half: normalise into float32's wider exponent range.
	e := uint32(127 - 15 + 1)
	for frac&0x400 == 0 {
		frac <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (frac&0x3ff)<<13)
}

// storage is one pickled storage, or (legacy format only) a view into
// another. Its bytes arrive after the pickle has been read.
type storage struct {
	key   string
	typ   *storageType
	numel int
	data  []byte // numel*typ.size bytes once loaded

	// A legacy storage view shares root's bytes from element offset on.
	root   *storage
	offset int
}

// bytes returns the storage's bytes, resolving a view.
func (s *storage) bytes() []byte {
	if s.root == nil {
		return s.data
	}
	b := s.root.data
	return b[s.offset*s.typ.size : (s.offset+s.numel)*s.typ.size]
}
