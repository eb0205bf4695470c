package convert

import (
	"bytes"
	"encoding/binary"
	"math/bits"
)

// Pickle opcodes, as Python's pickle module names them.
const (
	opMark        = '('
	opStop        = '.'
	opBinInt      = 'J'
	opBinInt1     = 'K'
	opBinInt2     = 'M'
	opBinPersID   = 'Q'
	opReduce      = 'R'
	opBinUnicode  = 'X'
	opGlobal      = 'c'
	opBinGet      = 'h'
	opLongBinGet  = 'j'
	opBinPut      = 'q'
	opLongBinPut  = 'r'
	opSetItem     = 's'
	opTuple       = 't'
	opEmptyTuple  = ')'
	opSetItems    = 'u'
	opProto       = '\x80'
	opTuple1      = '\x85'
	opTuple2      = '\x86'
	opTuple3      = '\x87'
	opNewTrue     = '\x88'
	opNewFalse    = '\x89'
	opLong1       = '\x8a'
	pickleVersion = 2 // torch.save's DEFAULT_PROTOCOL; torch 1.x's weights_only reader knows no later opcodes
)

// pickler writes the small part of pickle protocol 2 that torch.save emits
// for a state dict, with the opcodes and memo numbering of CPython's pickler,
// so that the bytes match what PyTorch writes for the same tensors.
//
// CPython memoizes by object identity. The writer mirrors that by choosing,
// per call, whether a value is a fresh object (str, tuple) or a shared one
// (global, sharedStr): torch's "storage" and "cpu" strings are constants, so
// Python writes them once and refers back; a tensor's key is a new string.
type pickler struct {
	buf    bytes.Buffer
	n      int            // memo entries so far; the next PUT's index
	memoOf map[string]int // memo index of each shared object written
}

func newPickler() *pickler {
	p := &pickler{memoOf: make(map[string]int)}
	p.buf.Write([]byte{opProto, pickleVersion})
	return p
}

func (p *pickler) op(b byte) { p.buf.WriteByte(b) }

// put memoizes the value just written under the next index, as CPython does
// for every non-atomic object.
func (p *pickler) put() int {
	i := p.n
	p.n++
	if i < 256 {
		p.buf.Write([]byte{opBinPut, byte(i)})
	} else {
		p.buf.WriteByte(opLongBinPut)
		p.buf.Write(binary.LittleEndian.AppendUint32(nil, uint32(i)))
	}
	return i
}

func (p *pickler) get(i int) {
	if i < 256 {
		p.buf.Write([]byte{opBinGet, byte(i)})
		return
	}
	p.buf.WriteByte(opLongBinGet)
	p.buf.Write(binary.LittleEndian.AppendUint32(nil, uint32(i)))
}

// shared writes a value that Python holds as one object however often it
// appears: the first time in full, then as a memo reference.
func (p *pickler) shared(key string, write func()) {
	if i, ok := p.memoOf[key]; ok {
		p.get(i)
		return
	}
	write()
	p.memoOf[key] = p.put()
}

// global pushes module.name (a class or function) the protocol-2 way.
func (p *pickler) global(module, name string) {
	p.shared("g\x00"+module+"\x00"+name, func() {
		p.op(opGlobal)
		p.buf.WriteString(module + "\n" + name + "\n")
	})
}

// str pushes a new str object.
func (p *pickler) str(s string) {
	p.unicode(s)
	p.put()
}

// sharedStr pushes a str constant that Python reuses as one object.
func (p *pickler) sharedStr(s string) {
	p.shared("s\x00"+s, func() { p.unicode(s) })
}

func (p *pickler) unicode(s string) {
	p.op(opBinUnicode)
	p.buf.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(s))))
	p.buf.WriteString(s)
}

// int pushes an int with the shortest opcode CPython would pick.
func (p *pickler) int(v int64) {
	switch {
	case v >= 0 && v <= 0xff:
		p.buf.Write([]byte{opBinInt1, byte(v)})
	case v >= 0 && v <= 0xffff:
		p.op(opBinInt2)
		p.buf.Write(binary.LittleEndian.AppendUint16(nil, uint16(v)))
	case v >= -1<<31 && v < 1<<31:
		p.op(opBinInt)
		p.buf.Write(binary.LittleEndian.AppendUint32(nil, uint32(int32(v))))
	default:
		b := encodeLong(v)
		p.buf.Write([]byte{opLong1, byte(len(b))})
		p.buf.Write(b)
	}
}

// encodeLong is pickle's encode_long: the shortest little-endian two's
// complement bytes that keep the sign.
func encodeLong(v int64) []byte {
	abs := uint64(v)
	if v < 0 {
		abs = -abs
	}
	n := bits.Len64(abs)/8 + 1 // room for the sign bit, as Python's (x.bit_length() >> 3) + 1
	out := make([]byte, n)
	for i := range out {
		out[i] = byte(v)
		v >>= 8 // arithmetic: sign-extends like int.to_bytes(signed=True)
	}
	// CPython drops a redundant trailing sign byte.
	if n > 1 && out[n-1] == 0xff && out[n-2]&0x80 != 0 {
		out = out[:n-1]
	}
	return out
}

func (p *pickler) bool(v bool) {
	if v {
		p.op(opNewTrue)
	} else {
		p.op(opNewFalse)
	}
}

// intTuple pushes a new tuple of ints.
func (p *pickler) intTuple(vs []int) {
	if len(vs) == 0 {
		p.op(opEmptyTuple) // the empty tuple is a singleton CPython never memoizes
		return
	}
	if len(vs) > 3 {
		p.op(opMark)
	}
	for _, v := range vs {
		p.int(int64(v))
	}
	p.endTuple(len(vs))
}

// endTuple closes a tuple of n items already pushed (after a MARK when n > 3).
func (p *pickler) endTuple(n int) {
	switch n {
	case 1:
		p.op(opTuple1)
	case 2:
		p.op(opTuple2)
	case 3:
		p.op(opTuple3)
	default:
		p.op(opTuple)
	}
	p.put()
}

// emptyOrderedDict pushes collections.OrderedDict().
func (p *pickler) emptyOrderedDict() {
	p.global("collections", "OrderedDict")
	p.op(opEmptyTuple)
	p.op(opReduce)
	p.put()
}

func (p *pickler) stop() []byte {
	p.op(opStop)
	return p.buf.Bytes()
}

// pickledTensor is what the state-dict pickle needs to know of one tensor.
type pickledTensor struct {
	name    string
	storage string // "FloatStorage" or "LongStorage"
	key     string // the storage's record name under data/
	numel   int
	shape   []int
	stride  []int
}

// pickleStateDict returns the data.pkl of torch.save(state_dict): an
// OrderedDict of torch._utils._rebuild_tensor_v2 calls on persistent storages.
func pickleStateDict(ts []pickledTensor) []byte {
	p := newPickler()
	p.tensorDict(ts)
	return p.stop()
}

// tensorDict pushes an OrderedDict of the tensors, by name.
func (p *pickler) tensorDict(ts []pickledTensor) {
	const batch = 1000 // pickle's _BATCHSIZE: SETITEMS takes at most this many pairs
	p.emptyOrderedDict()
	for start := 0; start < len(ts); start += batch {
		chunk := ts[start:min(start+batch, len(ts))]
		if len(chunk) > 1 {
			p.op(opMark)
		}
		for _, t := range chunk {
			p.str(t.name)
			p.rebuildTensor(t)
		}
		if len(chunk) > 1 {
			p.op(opSetItems)
		} else {
			p.op(opSetItem)
		}
	}
}

// rebuildTensor pushes torch._utils._rebuild_tensor_v2(storage, 0, size,
// stride, False, OrderedDict()), Tensor.__reduce_ex__'s recipe.
func (p *pickler) rebuildTensor(t pickledTensor) {
	p.global("torch._utils", "_rebuild_tensor_v2")
	p.op(opMark)
	// The storage, by persistent id ('storage', class, key, location, numel).
	p.op(opMark)
	p.sharedStr("storage")
	p.global("torch", t.storage)
	p.str(t.key)
	p.sharedStr("cpu")
	p.int(int64(t.numel))
	p.endTuple(5)
	p.op(opBinPersID)
	p.int(0) // storage offset
	p.intTuple(t.shape)
	p.intTuple(t.stride)
	p.bool(false) // requires_grad
	p.emptyOrderedDict()
	p.endTuple(6)
	p.op(opReduce)
	p.put()
}
