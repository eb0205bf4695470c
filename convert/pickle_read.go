package convert

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"

	"github.com/lenetkit/lenetkit/modelfile"
)

// allowGlobal is the whole of Python a state dict may name: the tensor and
// parameter rebuild functions, the storage classes, OrderedDict and
// torch.Size. Everything else (os.system, builtins.eval, a model's class)
// is refused before the pickle runs.
func allowGlobal(module, name string) error {
	switch module + "." + name {
	case "collections.OrderedDict",
		"torch._utils._rebuild_tensor",
		"torch._utils._rebuild_tensor_v2",
		"torch._utils._rebuild_parameter",
		"torch._utils._rebuild_parameter_with_state",
		"torch.Size":
		return nil
	}
	if module == "torch" && strings.HasSuffix(name, "Storage") {
		if storageTypes[name] != nil {
			return nil
		}
		// Complex, quantized, float8: real tensors, but nothing a
		// lenet.StateDict can hold.
		return fmt.Errorf("storage type torch.%s not supported (float and integer tensors only)", name)
	}
	return refuseGlobals(module, name)
}

// refuseGlobals is the allow function for torch's small bookkeeping pickles
// (magic number, sys info, storage keys), which need no global at all.
func refuseGlobals(module, name string) error {
	return &refusal{fmt.Sprintf("pickle asks for global %s.%s, refused", module, name)}
}

// refusal is the error for a file that asks for something a state dict
// never needs: reported as such even where the file is otherwise unreadable.
type refusal struct{ msg string }

func (r *refusal) Error() string { return r.msg }

// pickleScan is what scanPickle checks a pickle against.
type pickleScan struct {
	allow func(module, name string) error
	// maxIntBytes bounds LONG1 and LONG4: modelfile.MaxPickleIntBytes but
	// for the legacy format's magic number.
	maxIntBytes int
}

// scanPickle walks the opcodes of the pickle at the start of data without
// running any, and returns its length through STOP. It checks, before
// gopickle sees a byte, what gopickle would otherwise trust: every opcode
// known, every length inside the data (a huge length would make gopickle
// allocate it), MARKs nested sanely, every GLOBAL or INST allowed, and the
// bounds of modelfile's limits.go on opcodes, the stack, the memo and
// integers. STACK_GLOBAL takes its names from the stack, so the
// unpickler's FindClass applies the same allow function to those.
func scanPickle(data []byte, allow func(module, name string) error) (int, error) {
	return pickleScan{allow: allow, maxIntBytes: modelfile.MaxPickleIntBytes}.scan(data)
}

func (sc pickleScan) scan(data []byte) (int, error) {
	le := binary.LittleEndian
	var (
		i     int
		ops   int
		memo  int
		marks []int // stack heights saved by MARK
		h     int   // values on the stack since the last MARK
		total int   // values on the stack, all MARKs included
	)
	need := func(n uint64) error {
		if n > uint64(len(data)-i) {
			return fmt.Errorf("pickle truncated: opcode at byte %d needs %d bytes, %d left", i, n, len(data)-i)
		}
		return nil
	}
	line := func() (string, error) {
		j := bytes.IndexByte(data[i:], '\n')
		if j < 0 {
			return "", fmt.Errorf("pickle truncated: unterminated line at byte %d", i)
		}
		s := string(data[i : i+j])
		i += j + 1
		return s, nil
	}
	// pop and push follow the opcode's stack effect; a pop of more than
	// the stack holds is left for gopickle to report.
	pop := func(n int) {
		n = min(n, h)
		h, total = h-n, total-n
	}
	push := func(n int) error {
		h, total = h+n, total+n
		if total > modelfile.MaxPickleStack {
			return fmt.Errorf("pickle stacks more than %d values (opcode at byte %d), refused", modelfile.MaxPickleStack, i-1)
		}
		return nil
	}
	popMark := func(op byte) error {
		if len(marks) == 0 {
			return fmt.Errorf("pickle opcode %q at byte %d pops a MARK never pushed", op, i-1)
		}
		total -= h + 1
		h = marks[len(marks)-1]
		marks = marks[:len(marks)-1]
		return nil
	}
	intBytes := func(n uint64) error {
		if n > uint64(sc.maxIntBytes) {
			return fmt.Errorf("pickle integer of %d bytes at byte %d, more than 64 bits, refused", n, i)
		}
		return nil
	}
	intText := func(s string) error {
		if len(s) > modelfile.MaxPickleIntText {
			return fmt.Errorf("pickle integer of %d digits at byte %d, more than 64 bits, refused", len(s), i)
		}
		return nil
	}
	for i < len(data) {
		if i > modelfile.MaxPickleBytes {
			return 0, fmt.Errorf("pickle larger than %d MiB, refused", modelfile.MaxPickleBytes>>20)
		}
		if ops++; ops > modelfile.MaxPickleOps {
			return 0, fmt.Errorf("pickle has more than %d opcodes, refused", modelfile.MaxPickleOps)
		}
		op := data[i]
		i++
		var n uint64 // bytes of argument after any length prefix
		var err error
		switch op {
		case '.': // STOP
			if memo > ops/2+1 {
				return 0, fmt.Errorf("pickle stores %d memo entries in %d opcodes, more than one per object made, refused", memo, ops)
			}
			return i, nil
		case '(': // MARK
			if len(marks) >= modelfile.MaxPickleMarks {
				return 0, fmt.Errorf("pickle nests deeper than %d", modelfile.MaxPickleMarks)
			}
			marks = append(marks, h)
			total++ // the MARK itself
			h = 0
		case 't', 'l', 'd', 'o', '\x91': // pop to the MARK, push one
			if err = popMark(op); err == nil {
				err = push(1)
			}
		case 'u', 'e', '1', '\x90': // pop to the MARK
			err = popMark(op)
		case 'N', '\x88', '\x89', ')', ']', '}', '\x8f', '2', '\x97': // push one
			err = push(1)
		case '0', 'a', 'b': // POP, APPEND, BUILD
			pop(1)
		case 's': // SETITEM
			pop(2)
		case 'R', '\x86', '\x93', '\x81': // pop two, push one
			pop(2)
			err = push(1)
		case '\x87', '\x92': // pop three, push one
			pop(3)
			err = push(1)
		case 'Q', '\x85', '\x98': // BINPERSID, TUPLE1, READONLY_BUFFER: pop one, push one
		case '\x94': // MEMOIZE
			memo++
		case 'q': // BINPUT
			n = 1
			memo++
		case 'r': // LONG_BINPUT
			n = 4
			memo++
		case 'K', 'h', '\x82': // BININT1, BINGET, EXT1
			n = 1
			err = push(1)
		case 'M', '\x83': // BININT2, EXT2
			n = 2
			err = push(1)
		case 'J', 'j', '\x84': // BININT, LONG_BINGET, EXT4
			n = 4
			err = push(1)
		case 'G': // BINFLOAT
			n = 8
			err = push(1)
		case '\x80': // PROTO
			if err := need(1); err != nil {
				return 0, err
			}
			if data[i] > pickle.HighestProtocol {
				return 0, fmt.Errorf("pickle protocol %d unknown", data[i])
			}
			n = 1
		case 'U', 'C', '\x8c', '\x8a': // 1-byte length
			if err := need(1); err != nil {
				return 0, err
			}
			n = uint64(data[i])
			i++
			if op == '\x8a' {
				err = intBytes(n)
			}
			if err == nil {
				err = push(1)
			}
		case 'T', 'B', 'X', '\x8b': // 4-byte length
			if err := need(4); err != nil {
				return 0, err
			}
			n = uint64(le.Uint32(data[i:]))
			i += 4
			if op == '\x8b' {
				err = intBytes(n)
			}
			if err == nil {
				err = push(1)
			}
		case '\x8e', '\x8d', '\x96': // 8-byte length
			if err := need(8); err != nil {
				return 0, err
			}
			n = le.Uint64(data[i:])
			i += 8
			err = push(1)
		case '\x95': // FRAME: a length header; the framed opcodes follow and are scanned as usual
			if err := need(8); err != nil {
				return 0, err
			}
			i += 8
			if err := need(le.Uint64(data[i-8:])); err != nil {
				return 0, err
			}
		case 'I', 'L', 'S', 'V', 'F', 'g', 'p', 'P': // one text line
			var s string
			if s, err = line(); err != nil {
				return 0, err
			}
			switch op {
			case 'I', 'L':
				if err = intText(s); err == nil {
					err = push(1)
				}
			case 'p': // PUT
				memo++
			default:
				err = push(1)
			}
		case 'c', 'i': // GLOBAL, INST: module and name lines
			module, err := line()
			if err != nil {
				return 0, err
			}
			name, err := line()
			if err != nil {
				return 0, err
			}
			if err := sc.allow(module, name); err != nil {
				return 0, err
			}
			if op == 'i' {
				if err := popMark(op); err != nil {
					return 0, err
				}
			}
			if err := push(1); err != nil {
				return 0, err
			}
			continue
		default:
			return 0, fmt.Errorf("pickle opcode 0x%02x at byte %d unknown", op, i-1)
		}
		if err != nil {
			return 0, err
		}
		if memo > modelfile.MaxPickleMemo {
			return 0, fmt.Errorf("pickle stores more than %d memo entries, refused", modelfile.MaxPickleMemo)
		}
		if err := need(n); err != nil {
			return 0, err
		}
		i += int(n)
	}
	return 0, errors.New("pickle truncated: no STOP")
}

// unpickler runs gopickle on a pickle that scanPickle accepted, with torch's
// globals limited to allow and persistent ids resolved by persistentLoad.
// The first error from the caller's own hooks wins over gopickle's
// reformulation of it, and a panic inside gopickle (it indexes without
// checking on some malformed input) becomes an error.
type unpickler struct {
	allow          func(module, name string) error
	persistentLoad func(pid *types.Tuple) (any, error)
	err            error // first error raised by a hook
}

func (up *unpickler) fail(err error) error {
	if up.err == nil {
		up.err = err
	}
	return err
}

func (up *unpickler) load(data []byte) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("malformed pickle (%v)", r)
		}
	}()
	u := pickle.NewUnpickler(bytes.NewReader(data))
	u.FindClass = func(module, name string) (any, error) {
		if err := up.allow(module, name); err != nil {
			return nil, up.fail(err)
		}
		return up.global(module, name), nil
	}
	u.PersistentLoad = func(pid any) (any, error) {
		t, ok := pid.(*types.Tuple)
		if !ok || up.persistentLoad == nil {
			return nil, up.fail(fmt.Errorf("pickle has persistent id %s, not a storage", pyType(pid)))
		}
		v, err := up.persistentLoad(t)
		if err != nil {
			return nil, up.fail(err)
		}
		return v, nil
	}
	v, err = u.Load()
	if up.err != nil {
		return nil, up.err
	}
	if err != nil {
		// gopickle only lets SETITEM(S) reach a dict; say why that matters.
		if msg := err.Error(); strings.HasPrefix(msg, "SETITEM") && strings.Contains(msg, "requires DictSetter") {
			return nil, &refusal{fmt.Sprintf("pickle applies %s to something that is not a dict, refused", strings.Fields(msg)[0])}
		}
		return nil, fmt.Errorf("malformed pickle: %v", err)
	}
	return v, nil
}

// global returns the Go stand-in for an allowed global.
func (up *unpickler) global(module, name string) any {
	if module == "torch" {
		if st := storageTypes[name]; st != nil {
			return st
		}
		if name == "Size" {
			return sizeClass{}
		}
	}
	if module == "collections" {
		return &types.OrderedDictClass{}
	}
	return &rebuildFunc{name: name, up: up}
}

// tensorRef is a tensor as the pickle describes it: a view into a storage,
// materialized once the storages' bytes are loaded.
type tensorRef struct {
	st     *storage
	offset int
	shape  []int
	stride []int
}

// rebuildFunc stands in for torch._utils' _rebuild_* functions, which is
// what torch pickles a tensor or a Parameter as.
type rebuildFunc struct {
	name string
	up   *unpickler
}

func (f *rebuildFunc) Call(args ...any) (any, error) {
	v, err := f.call(args)
	if err != nil {
		return nil, f.up.fail(fmt.Errorf("%s: %w", f.name, err))
	}
	return v, nil
}

func (f *rebuildFunc) call(args []any) (any, error) {
	switch f.name {
	case "_rebuild_parameter", "_rebuild_parameter_with_state":
		// (data, requires_grad, backward_hooks[, state]): the data is the tensor.
		if len(args) < 3 || len(args) > 4 {
			return nil, fmt.Errorf("%d arguments", len(args))
		}
		t, ok := args[0].(*tensorRef)
		if !ok {
			return nil, fmt.Errorf("data is a %s, not a tensor", pyType(args[0]))
		}
		return t, nil
	case "_rebuild_tensor": // (storage, offset, size, stride)
		if len(args) != 4 {
			return nil, fmt.Errorf("%d arguments", len(args))
		}
	default: // _rebuild_tensor_v2: (storage, offset, size, stride, requires_grad, backward_hooks[, metadata])
		if len(args) < 6 || len(args) > 7 {
			return nil, fmt.Errorf("%d arguments", len(args))
		}
	}
	st, ok := args[0].(*storage)
	if !ok {
		return nil, fmt.Errorf("storage is a %s", pyType(args[0]))
	}
	offset, ok := args[1].(int)
	if !ok || offset < 0 {
		return nil, fmt.Errorf("storage offset %v", args[1])
	}
	shape, err := intSeq(args[2])
	if err != nil {
		return nil, fmt.Errorf("size: %w", err)
	}
	stride, err := intSeq(args[3])
	if err != nil {
		return nil, fmt.Errorf("stride: %w", err)
	}
	if len(shape) != len(stride) {
		return nil, fmt.Errorf("size %v and stride %v differ in length", shape, stride)
	}
	return &tensorRef{st: st, offset: offset, shape: shape, stride: stride}, nil
}

// sizeClass stands in for torch.Size, which pickles as torch.Size((d0, d1, ...)).
type sizeClass struct{}

func (sizeClass) Call(args ...any) (any, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("torch.Size: %d arguments", len(args))
	}
	if _, err := intSeq(args[0]); err != nil {
		return nil, fmt.Errorf("torch.Size: %w", err)
	}
	return args[0], nil
}

// intSeq reads a tuple or list of non-negative ints.
func intSeq(v any) ([]int, error) {
	var items []any
	switch s := v.(type) {
	case *types.Tuple:
		items = *s
	case *types.List:
		items = *s
	default:
		return nil, fmt.Errorf("a %s, not a tuple of ints", pyType(v))
	}
	out := make([]int, len(items))
	for i, it := range items {
		n, ok := it.(int)
		if !ok || n < 0 {
			return nil, fmt.Errorf("element %d is %v, not a non-negative int", i, it)
		}
		out[i] = n
	}
	return out, nil
}

// pyType names a decoded value's Python type for error messages.
func pyType(v any) string {
	switch v.(type) {
	case nil:
		return "None"
	case int:
		return "int"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case bool:
		return "bool"
	case float64:
		return "float"
	case *types.Tuple:
		return "tuple"
	case *types.List:
		return "list"
	case *types.Dict:
		return "dict"
	case *types.OrderedDict:
		return "OrderedDict"
	case *storage:
		return "storage"
	case *tensorRef:
		return "tensor"
	}
	return fmt.Sprintf("%T", v)
}
