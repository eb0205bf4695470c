package convert

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"unicode/utf8"

	"github.com/lenetkit/lenetkit/internal/atomicfile"
	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/modelfile"
)

// safetensors: an 8-byte little-endian header length, a JSON header mapping
// each tensor name to its dtype, shape and [begin, end) byte offsets in the
// data that follows, and an optional "__metadata__" string map.

// safetensorsStorage maps safetensors dtypes onto the storage types the
// .pth reader already converts from.
var safetensorsStorage = map[string]string{
	"F32": "FloatStorage", "F64": "DoubleStorage", "F16": "HalfStorage", "BF16": "BFloat16Storage",
	"I64": "LongStorage", "I32": "IntStorage", "I16": "ShortStorage", "I8": "CharStorage",
	"U8": "ByteStorage", "BOOL": "BoolStorage",
}

type safetensorsEntry struct {
	DType   string   `json:"dtype"`
	Shape   []int    `json:"shape"`
	Offsets [2]int64 `json:"data_offsets"`
}

// WriteSafetensors writes sd in the safetensors format, float32 as F32 and
// int64 as I64, with the given metadata. Tensors are laid out in state-dict
// order; the header lists them by name, as JSON objects do not keep order.
func WriteSafetensors(w io.Writer, sd lenet.StateDict, metadata map[string]string) error {
	header := map[string]any{}
	if len(metadata) > 0 {
		header["__metadata__"] = metadata
	}
	var offset int64
	for _, t := range sd {
		if _, dup := header[t.Name]; dup || t.Name == "__metadata__" {
			return fmt.Errorf("tensor name %q used twice or reserved", t.Name)
		}
		n := int64(t.NumElements())
		dtype, size := "F32", int64(4)
		if t.DType == lenet.Int64 {
			dtype, size = "I64", 8
		}
		if int64(len(t.F32)+len(t.I64)) != n {
			return fmt.Errorf("tensor %s: shape %v needs %d elements, has %d", t.Name, t.Shape, n, len(t.F32)+len(t.I64))
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		header[t.Name] = safetensorsEntry{DType: dtype, Shape: shape, Offsets: [2]int64{offset, offset + n*size}}
		offset += n * size
	}
	js, err := json.Marshal(header)
	if err != nil {
		return err
	}
	// Pad the header with spaces so the data starts 8-byte aligned, as the
	// reference writer does.
	for len(js)%8 != 0 {
		js = append(js, ' ')
	}
	var head [8]byte
	binary.LittleEndian.PutUint64(head[:], uint64(len(js)))
	if _, err := w.Write(head[:]); err != nil {
		return err
	}
	if _, err := w.Write(js); err != nil {
		return err
	}
	for _, t := range sd {
		if _, err := w.Write(tensorBytes(t)); err != nil {
			return err
		}
	}
	return nil
}

// SaveSafetensors writes sd to path through a temporary file.
func SaveSafetensors(path string, sd lenet.StateDict, metadata map[string]string) error {
	if err := atomicfile.Write(path, func(w io.Writer) error { return WriteSafetensors(w, sd, metadata) }); err != nil {
		return fmt.Errorf("convert: %s: %w", path, err)
	}
	return nil
}

// ReadSafetensors reads every tensor of a safetensors file, in the order of
// their data in the file, and its metadata.
func ReadSafetensors(path string) (lenet.StateDict, map[string]string, error) {
	if err := modelfile.CheckContent(path, modelfile.Safetensors); err != nil {
		return nil, nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("convert: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("convert: %w", err)
	}
	sd, meta, err := decodeSafetensors(f, st.Size())
	if err != nil {
		return nil, nil, fmt.Errorf("convert: %s: %w", path, err)
	}
	return sd, meta, nil
}

// decodeSafetensors reads a safetensors file as strictly as the reference
// implementation: the header a JSON object without repeated names, the
// tensors' data contiguous from offset 0 to the end of the file, without
// gaps, overlaps or bytes that no tensor owns.
func decodeSafetensors(r io.ReaderAt, size int64) (lenet.StateDict, map[string]string, error) {
	var head [8]byte
	if _, err := r.ReadAt(head[:], 0); err != nil {
		return nil, nil, fmt.Errorf("not a safetensors file: too short for its header length")
	}
	hlen := binary.LittleEndian.Uint64(head[:])
	if hlen > modelfile.MaxSafetensorsHeader || int64(hlen) > size-8 {
		return nil, nil, fmt.Errorf("not a safetensors file: header length %d in a file of %d bytes", hlen, size)
	}
	js := make([]byte, hlen)
	if _, err := r.ReadAt(js, 8); err != nil {
		return nil, nil, fmt.Errorf("truncated header: %w", err)
	}
	names, raw, err := headerObject(js)
	if err != nil {
		return nil, nil, err
	}
	var meta map[string]string
	if m, ok := raw["__metadata__"]; ok {
		if err := json.Unmarshal(m, &meta); err != nil {
			return nil, nil, fmt.Errorf("__metadata__ is not a map of strings: %v", err)
		}
	}
	dataStart, dataLen := 8+int64(hlen), size-8-int64(hlen)
	type item struct {
		name string
		e    safetensorsEntry
	}
	items := make([]item, 0, len(names))
	for _, name := range names {
		if name == "__metadata__" {
			continue
		}
		var e safetensorsEntry
		if err := json.Unmarshal(raw[name], &e); err != nil {
			return nil, nil, fmt.Errorf("tensor %s: bad header entry: %v", name, err)
		}
		items = append(items, item{name, e})
	}
	sort.Slice(items, func(i, j int) bool {
		a, b := items[i].e.Offsets, items[j].e.Offsets
		if a != b {
			return a[0] < b[0] || a[0] == b[0] && a[1] < b[1]
		}
		return items[i].name < items[j].name
	})
	// The checks of the reference's validate, before any data is read.
	var end int64 // where the previous tensor's data ended
	for _, it := range items {
		st, ok := storageTypes[safetensorsStorage[it.e.DType]]
		if !ok {
			return nil, nil, fmt.Errorf("tensor %s: dtype %q not supported", it.name, it.e.DType)
		}
		n := int64(1)
		for _, d := range it.e.Shape {
			if d < 0 || (d > 0 && n > math.MaxInt32/int64(d)) {
				return nil, nil, fmt.Errorf("tensor %s: shape %v out of range", it.name, it.e.Shape)
			}
			n *= int64(d)
		}
		begin, stop := it.e.Offsets[0], it.e.Offsets[1]
		if begin < 0 || stop < begin || stop > dataLen {
			return nil, nil, fmt.Errorf("tensor %s: data offsets [%d, %d) outside the %d data bytes (truncated file?)", it.name, begin, stop, dataLen)
		}
		switch {
		case begin < end:
			return nil, nil, fmt.Errorf("tensor %s: data offsets [%d, %d) overlap the previous tensor's, which end at %d", it.name, begin, stop, end)
		case begin > end:
			return nil, nil, fmt.Errorf("tensor %s: data offsets [%d, %d) leave bytes %d to %d that no tensor owns", it.name, begin, stop, end, begin)
		}
		if stop-begin != n*int64(st.size) {
			return nil, nil, fmt.Errorf("tensor %s: %s shape %v needs %d bytes, header gives %d", it.name, it.e.DType, it.e.Shape, n*int64(st.size), stop-begin)
		}
		end = stop
	}
	if end != dataLen {
		return nil, nil, fmt.Errorf("the tensors' data ends at byte %d of %d: %d trailing bytes that no tensor owns", end, dataLen, dataLen-end)
	}
	sd := make(lenet.StateDict, 0, len(items))
	for _, it := range items {
		st := storageTypes[safetensorsStorage[it.e.DType]]
		begin, stop := it.e.Offsets[0], it.e.Offsets[1]
		b := make([]byte, stop-begin)
		if n, err := r.ReadAt(b, dataStart+begin); n < len(b) {
			return nil, nil, fmt.Errorf("tensor %s: %v", it.name, err)
		}
		n := len(b) / st.size
		t := &lenet.Tensor{Name: it.name, Shape: append([]int{}, it.e.Shape...), DType: st.dtype()}
		if st.float {
			t.F32 = make([]float32, 0, n)
		} else {
			t.I64 = make([]int64, 0, n)
		}
		for p := 0; p < len(b); p += st.size {
			if st.float {
				t.F32 = append(t.F32, st.toFloat(b[p:]))
			} else {
				t.I64 = append(t.I64, st.toInt(b[p:]))
			}
		}
		sd = append(sd, t)
	}
	return sd, meta, nil
}

// headerObject parses the header, a JSON object, into its names in the
// order written and their values; a name written twice is refused, where
// encoding/json would keep the last silently.
func headerObject(js []byte) ([]string, map[string]json.RawMessage, error) {
	notObject := func(err error) error {
		return fmt.Errorf("not a safetensors file: header is not a JSON object: %v", err)
	}
	if len(js) == 0 || js[0] != '{' {
		return nil, nil, notObject(errors.New("it does not start with {"))
	}
	if !utf8.Valid(js) {
		return nil, nil, errors.New("not a safetensors file: header is not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	if _, err := dec.Token(); err != nil { // {
		return nil, nil, notObject(err)
	}
	var names []string
	raw := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, notObject(err)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, nil, notObject(fmt.Errorf("key %v", tok))
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, notObject(err)
		}
		if _, dup := raw[name]; dup {
			return nil, nil, fmt.Errorf("header names %q twice", name)
		}
		names = append(names, name)
		raw[name] = v
	}
	if _, err := dec.Token(); err != nil { // }
		return nil, nil, notObject(err)
	}
	// Only the padding may follow the object.
	if rest := bytes.TrimRight(js[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return nil, nil, notObject(errors.New("data after the object"))
	}
	return names, raw, nil
}
