// Package tensorfile reads and writes one tensor in a file, as the ONNX
// project's test data stores it (a serialized TensorProto, .pb) or as
// numpy.save does (.npy), and compares two tensors at ONNX's tolerances as
// numpy.testing.assert_allclose does.
//
// Reads are bounded: a file of more than MaxFileBytes, one that is not a
// regular file, or one whose header declares more than modelfile's
// MaxElements or MaxRank is refused before its data is allocated. A file
// that breaks its format's rules is refused with an error that wraps
// modelfile.ErrFormat; one beyond the limits wraps modelfile.ErrLimit; a
// well-formed file lenetkit does not read (a Fortran-order or pickled
// object array, a big-endian or string type) wraps onnx.ErrUnsupported.
package tensorfile

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"

	"github.com/lenetkit/lenetkit/internal/atomicfile"
	"github.com/lenetkit/lenetkit/internal/safeio"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

// MaxFileBytes bounds a tensor file: 2 GiB, protobuf's limit on one
// message and so on any TensorProto the ONNX tools write; numpy's files
// of a tensor that size are the same size, plus a header.
const MaxFileBytes = 1<<31 - 1

// Format is a tensor file's format.
type Format int

const (
	// PB is a serialized onnx.TensorProto, the ONNX test data's .pb.
	PB Format = iota
	// NPY is NumPy's .npy, versions 1.0, 2.0 and 3.0 of its header.
	NPY
)

func (f Format) String() string {
	switch f {
	case PB:
		return "pb"
	case NPY:
		return "npy"
	}
	return fmt.Sprintf("format %d", int(f))
}

// Ext is the file extension of the format, with its dot.
func (f Format) Ext() string { return "." + f.String() }

// ParseFormat reads a format's name: pb or npy.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "pb":
		return PB, nil
	case "npy":
		return NPY, nil
	}
	return 0, fmt.Errorf("tensor format %q: want pb or npy", s)
}

// FormatOf is the format a file's extension names: .pb or .npy.
func FormatOf(path string) (Format, error) {
	ext := filepath.Ext(path)
	if ext == "" {
		return 0, fmt.Errorf("%s: no extension to tell the tensor format by (want .pb or .npy)", path)
	}
	f, err := ParseFormat(ext[1:])
	if err != nil {
		return 0, fmt.Errorf("%s: extension %q: want .pb or .npy", path, ext)
	}
	return f, nil
}

// Read reads the tensor in path, in the format its extension names.
func Read(path string) (*onnx.Tensor, error) {
	f, err := FormatOf(path)
	if err != nil {
		return nil, err
	}
	return ReadFormat(path, f)
}

// ReadFormat reads the tensor in path, in format f.
func ReadFormat(path string, f Format) (*onnx.Tensor, error) {
	data, err := safeio.ReadFile(path, MaxFileBytes)
	if err != nil {
		return nil, err
	}
	t, err := Decode(data, f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Decode decodes a tensor file's content in format f. A .npy file has no
// name for its tensor: the Tensor's Name is empty.
func Decode(data []byte, f Format) (*onnx.Tensor, error) {
	switch f {
	case PB:
		return decodePB(data)
	case NPY:
		return decodeNPY(data)
	}
	return nil, fmt.Errorf("tensor %s is not a format tensorfile reads", f)
}

func decodePB(data []byte) (*onnx.Tensor, error) {
	var p onnx.TensorProto
	if err := p.Unmarshal(data); err != nil {
		return nil, modelfile.FormatErrorf("not a TensorProto: %v", oneLine(err.Error()))
	}
	if p.DataType == 0 {
		// An empty file, or many a stray one, decodes as a message without
		// fields; every tensor file says its type.
		return nil, modelfile.FormatErrorf("not a TensorProto: no data type")
	}
	return onnx.DecodeTensor(&p)
}

// Encode encodes t as a file of format f: a TensorProto of raw
// little-endian data named t.Name, or a .npy file (version 1.0 of the
// header where it fits, as numpy.save writes it).
func Encode(t *onnx.Tensor, f Format) ([]byte, error) {
	switch f {
	case PB:
		return encodePB(t)
	case NPY:
		return encodeNPY(t)
	}
	return nil, fmt.Errorf("tensor %s is not a format tensorfile writes", f)
}

// Write writes t to path, in the format its extension names, atomically:
// on an error nothing is left at path.
func Write(path string, t *onnx.Tensor) error {
	f, err := FormatOf(path)
	if err != nil {
		return err
	}
	data, err := Encode(t, f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// elementSize is the bytes of one element of d as both formats store it,
// 0 for the types they do not write here.
func elementSize(d onnx.DType) int {
	switch d {
	case onnx.Uint8, onnx.Int8, onnx.Bool:
		return 1
	case onnx.Uint16, onnx.Int16:
		return 2
	case onnx.Float, onnx.Int32, onnx.Uint32:
		return 4
	case onnx.Int64, onnx.Uint64, onnx.Double:
		return 8
	}
	return 0
}

// count is the number of elements of shape, checked against modelfile's
// limits.
func count(shape []int) (int, error) {
	if len(shape) > modelfile.MaxRank {
		return 0, modelfile.LimitErrorf("shape %v has %d dimensions, more than %d", shape, len(shape), modelfile.MaxRank)
	}
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, modelfile.FormatErrorf("shape %v has dimension %d", shape, d)
		}
		if d > modelfile.MaxElements || (d > 0 && n > modelfile.MaxElements/d) {
			return 0, modelfile.LimitErrorf("shape %v has more than %d elements", shape, modelfile.MaxElements)
		}
		n *= d
	}
	return n, nil
}

// raw is t's values as little-endian bytes, checked against its shape.
func raw(t *onnx.Tensor) ([]byte, error) {
	size := elementSize(t.DType)
	if size == 0 {
		return nil, fmt.Errorf("tensor %q is %s, which tensorfile does not write: %w", t.Name, t.DType, onnx.ErrUnsupported)
	}
	n, err := count(t.Shape)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	values := len(t.Int)
	if t.DType.IsFloat() {
		values = len(t.Float)
	}
	if values != n || (t.DType.IsFloat() && t.Int != nil) || (!t.DType.IsFloat() && t.Float != nil) {
		return nil, fmt.Errorf("tensor %q of shape %v holds %d %s values, expected %d", t.Name, t.Shape, t.Len(), t.DType, n)
	}
	b := make([]byte, size*n)
	le := binary.LittleEndian
	for i := range n {
		switch t.DType {
		case onnx.Float:
			le.PutUint32(b[4*i:], math.Float32bits(t.Float[i]))
		case onnx.Double:
			le.PutUint64(b[8*i:], math.Float64bits(float64(t.Float[i])))
		case onnx.Bool:
			b[i] = byte(min(max(t.Int[i], 0), 1))
		case onnx.Uint8, onnx.Int8:
			b[i] = byte(t.Int[i])
		case onnx.Uint16, onnx.Int16:
			le.PutUint16(b[2*i:], uint16(t.Int[i]))
		case onnx.Int32, onnx.Uint32:
			le.PutUint32(b[4*i:], uint32(t.Int[i]))
		case onnx.Int64, onnx.Uint64:
			le.PutUint64(b[8*i:], uint64(t.Int[i]))
		}
	}
	return b, nil
}

func encodePB(t *onnx.Tensor) ([]byte, error) {
	b, err := raw(t)
	if err != nil {
		return nil, err
	}
	dims := make([]int64, len(t.Shape))
	for i, d := range t.Shape {
		dims[i] = int64(d)
	}
	p := &onnx.TensorProto{Name: t.Name, Dims: dims, DataType: int32(t.DType), RawData: b}
	return p.Marshal()
}

// oneLine keeps a decoder's message to one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
