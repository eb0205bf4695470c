package convert

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/lenetkit/lenetkit/internal/atomicfile"
	"github.com/lenetkit/lenetkit/internal/safeio"
	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/modelfile"
)

// CheckpointFormat names the layout of a training checkpoint; a file of
// another layout is refused rather than resumed from wrongly.
const CheckpointFormat = "lenetkit.checkpoint/1"

// A Checkpoint is a training run's state, written as the dict that
// torch.save of a typical PyTorch checkpoint holds:
//
//	{"format": CheckpointFormat,
//	 "model": OrderedDict of the state dict's tensors,
//	 "optimizer": {name: OrderedDict of tensors, ...},
//	 "state": str (the trainer's counters, random states and config as JSON)}
//
// torch.load(path, weights_only=True) reads it, and every reader of .pth
// files that unwraps a "model" entry (lenetkit eval, inspect, convert)
// takes it as the model.
type Checkpoint struct {
	Model     lenet.StateDict
	Optimizer map[string]lenet.StateDict
	State     []byte
}

const opEmptyDict = '}'

// SaveCheckpoint writes c to path, whole or not at all.
func SaveCheckpoint(path string, c *Checkpoint) error {
	name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	err := atomicfile.Write(path, func(w io.Writer) error { return writeCheckpoint(w, c, name) })
	if err != nil {
		return fmt.Errorf("convert: %s: %w", path, err)
	}
	return nil
}

func writeCheckpoint(w io.Writer, c *Checkpoint, archive string) error {
	groups := []lenet.StateDict{c.Model}
	keys := slices.Sorted(maps.Keys(c.Optimizer))
	for _, k := range keys {
		groups = append(groups, c.Optimizer[k])
	}
	// Storage records are numbered across the whole file.
	var pickled [][]pickledTensor
	var all lenet.StateDict
	for _, sd := range groups {
		ts, err := pickledTensors(sd)
		if err != nil {
			return err
		}
		for i := range ts {
			ts[i].key = strconv.Itoa(len(all) + i)
		}
		pickled = append(pickled, ts)
		all = append(all, sd...)
	}

	p := newPickler()
	p.op(opEmptyDict)
	p.put()
	p.op(opMark)
	p.str("format")
	p.str(CheckpointFormat)
	p.str("model")
	p.tensorDict(pickled[0])
	p.str("optimizer")
	p.op(opEmptyDict)
	p.put()
	p.op(opMark)
	for i, k := range keys {
		p.str(k)
		p.tensorDict(pickled[i+1])
	}
	p.op(opSetItems)
	p.str("state")
	p.str(string(c.State))
	p.op(opSetItems)
	return writeArchive(w, archive, p.stop(), all, true)
}

// ErrNotCheckpoint is what errors.Is finds in an error refusing a file that
// is not a lenetkit checkpoint at all: empty, text, another format, or a
// .pth that is not a checkpoint's dict.
var ErrNotCheckpoint = errors.New("not a lenetkit checkpoint")

// ReadCheckpoint reads a checkpoint SaveCheckpoint wrote. The file is a
// run directory's, so input: only a regular file of at most
// modelfile.MaxCheckpointBytes is read (a named pipe is refused, not
// waited on).
func ReadCheckpoint(path string) (*Checkpoint, error) {
	f, err := safeio.Open(path)
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	if st.Size() > modelfile.MaxCheckpointBytes {
		return nil, fmt.Errorf("convert: %s: %w", path, modelfile.LimitErrorf("%d bytes, more than a checkpoint's %d", st.Size(), modelfile.MaxCheckpointBytes))
	}
	c, err := DecodeCheckpoint(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("convert: %s: %w", path, err)
	}
	return c, nil
}

// DecodeCheckpoint reads a checkpoint of size bytes from r.
func DecodeCheckpoint(r io.ReaderAt, size int64) (*Checkpoint, error) {
	head := make([]byte, modelfile.SniffLen)
	n, _ := r.ReadAt(head, 0)
	if got := modelfile.Sniff(head[:n]); got != modelfile.PTH {
		what := "its contents are no PyTorch file"
		switch {
		case size == 0:
			what = "the file is empty"
		case got != "":
			what = "its contents are those of a ." + got + " file"
		}
		return nil, fmt.Errorf("%w: %s (train writes one to --log-dir/checkpoint.pth, or beside --out)", ErrNotCheckpoint, what)
	}
	obj, err := decodePTH(r, size)
	if err != nil {
		return nil, err
	}
	return checkpointFrom(obj)
}

func checkpointFrom(obj *pthObject) (*Checkpoint, error) {
	entries, ok := dictEntries(obj.root)
	if !ok {
		return nil, fmt.Errorf("%w: the file holds a %s, not a dict", ErrNotCheckpoint, pyType(obj.root))
	}
	get := func(key string) any {
		for _, e := range entries {
			if asString(e.key) == key {
				return e.value
			}
		}
		return nil
	}
	if f := asString(get("format")); f != CheckpointFormat {
		if f == "" {
			return nil, fmt.Errorf("%w (no \"format\": %q entry; a state dict cannot be resumed from)", ErrNotCheckpoint, CheckpointFormat)
		}
		return nil, fmt.Errorf("checkpoint format %q, this lenetkit reads %q", f, CheckpointFormat)
	}
	c := &Checkpoint{Optimizer: map[string]lenet.StateDict{}}
	var err error
	if c.Model, err = flatten(obj, get("model")); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	opt, ok := dictEntries(get("optimizer"))
	if !ok {
		return nil, fmt.Errorf("checkpoint has no optimizer dict")
	}
	for _, e := range opt {
		k := asString(e.key)
		if c.Optimizer[k], err = flatten(obj, e.value); err != nil {
			return nil, fmt.Errorf("optimizer %s: %w", k, err)
		}
	}
	state := asString(get("state"))
	if state == "" {
		return nil, fmt.Errorf("checkpoint has no state")
	}
	c.State = []byte(state)
	return c, nil
}
