package convert

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/lenetkit/lenetkit/internal/atomicfile"
	"github.com/lenetkit/lenetkit/lenet"
)

// pthVersion is the "version" record torch.save writes for a pickled object
// (kProducedFileFormatVersion for non-TorchScript archives).
const pthVersion = "3\n"

// WritePTH writes sd to w as torch.save(state_dict, f) does in its zip
// format: an archive whose folder is archiveName ("archive" if empty)
// holding data.pkl (a protocol-2 pickle of an OrderedDict of tensors),
// byteorder, one uncompressed, 64-byte-aligned data/<key> record per tensor,
// and version.
//
// Each tensor gets a storage of its own, float32 as torch.FloatStorage and
// int64 as torch.LongStorage. The bytes are those torch.save writes for the
// same OrderedDict of tensors, except that a module's state_dict() also
// carries _metadata (module versions), which is not written: PyTorch reads
// its absence as "current version", and the only LeNet layer with a version
// rule, BatchNorm, applies it just when num_batches_tracked is missing.
func WritePTH(w io.Writer, sd lenet.StateDict, archiveName string) error {
	if err := writePTH(w, sd, archiveName, true); err != nil {
		return fmt.Errorf("convert: write .pth: %w", err)
	}
	return nil
}

// writePTH lets tests leave out the byteorder record, which torch 2.x writes
// and torch 1.x does not, to compare bytes with the torch at hand.
func writePTH(w io.Writer, sd lenet.StateDict, archiveName string, byteorder bool) error {
	if archiveName == "" {
		archiveName = "archive"
	}
	if strings.ContainsAny(archiveName, `/\`) || !utf8.ValidString(archiveName) {
		return fmt.Errorf("archive name %q is not a plain folder name", archiveName)
	}
	ts, err := pickledTensors(sd)
	if err != nil {
		return err
	}
	return writeArchive(w, archiveName, pickleStateDict(ts), sd, byteorder)
}

// writeArchive writes torch.save's zip: the pickle, then storages[i], the
// i-th tensor's bytes, as the record data/i that the pickle names.
func writeArchive(w io.Writer, archiveName string, pkl []byte, storages lenet.StateDict, byteorder bool) error {
	bw := bufio.NewWriter(w)
	z := &torchZip{w: bw}
	prefix := archiveName + "/"
	z.record(prefix+"data.pkl", pkl)
	if byteorder {
		z.record(prefix+"byteorder", []byte("little"))
	}
	// torch.save writes storages in the string order of their keys: 0, 1, 10, 11, ..., 2.
	keys := make([]string, len(storages))
	order := make([]int, len(storages))
	for i := range order {
		keys[i], order[i] = strconv.Itoa(i), i
	}
	sort.Slice(order, func(a, b int) bool { return keys[order[a]] < keys[order[b]] })
	for _, i := range order {
		z.record(prefix+"data/"+keys[i], tensorBytes(storages[i]))
	}
	z.record(prefix+"version", []byte(pthVersion))
	if err := z.close(); err != nil {
		return err
	}
	return bw.Flush()
}

// pickledTensors checks sd and describes each tensor for the pickle.
func pickledTensors(sd lenet.StateDict) ([]pickledTensor, error) {
	seen := make(map[string]bool, len(sd))
	ts := make([]pickledTensor, len(sd))
	for i, t := range sd {
		if t == nil {
			return nil, fmt.Errorf("state dict entry %d is nil", i)
		}
		if !utf8.ValidString(t.Name) {
			return nil, fmt.Errorf("tensor name %q is not UTF-8", t.Name)
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("tensor %s appears twice", t.Name)
		}
		seen[t.Name] = true
		n := 1
		for _, d := range t.Shape {
			if d < 0 || (d > 0 && n > math.MaxInt/d) {
				return nil, fmt.Errorf("tensor %s has shape %v", t.Name, t.Shape)
			}
			n *= d
		}
		var storage string
		var have int
		switch t.DType {
		case lenet.Float32:
			storage, have = "FloatStorage", len(t.F32)
		case lenet.Int64:
			storage, have = "LongStorage", len(t.I64)
		default:
			return nil, fmt.Errorf("tensor %s has unknown dtype %v", t.Name, t.DType)
		}
		if have != n {
			return nil, fmt.Errorf("tensor %s: shape %v needs %d elements, has %d", t.Name, t.Shape, n, have)
		}
		ts[i] = pickledTensor{
			name:    t.Name,
			storage: storage,
			key:     strconv.Itoa(i),
			numel:   n,
			shape:   t.Shape,
			stride:  contiguousStrides(t.Shape),
		}
	}
	return ts, nil
}

// contiguousStrides are the row-major strides torch gives a fresh tensor;
// a zero-sized dimension counts as 1, as in torch.
func contiguousStrides(shape []int) []int {
	s := make([]int, len(shape))
	step := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = step
		step *= max(shape[i], 1)
	}
	return s
}

// tensorBytes is the tensor's storage as torch writes it: little-endian elements.
func tensorBytes(t *lenet.Tensor) []byte {
	le := binary.LittleEndian
	if t.DType == lenet.Int64 {
		b := make([]byte, 0, 8*len(t.I64))
		for _, v := range t.I64 {
			b = le.AppendUint64(b, uint64(v))
		}
		return b
	}
	b := make([]byte, 0, 4*len(t.F32))
	for _, v := range t.F32 {
		b = le.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

// SavePTH writes sd to path as torch.save(state_dict, path) would, naming the
// archive folder after the file as torch does ("model" for model.pth). The
// file appears complete or not at all: it is written to a temporary file in
// the same directory and renamed into place.
func SavePTH(path string, sd lenet.StateDict) error {
	name := filepath.Base(path)
	name = strings.TrimSuffix(name, filepath.Ext(name))
	err := atomicfile.Write(path, func(w io.Writer) error { return writePTH(w, sd, name, true) })
	if err != nil {
		return fmt.Errorf("convert: %s: %w", path, err)
	}
	return nil
}
