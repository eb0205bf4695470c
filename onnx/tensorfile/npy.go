package tensorfile

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

// The .npy format (numpy.lib.format): the magic string, the version's
// major and minor bytes, the header's length (2 bytes little-endian in
// version 1.0, 4 in 2.0 and 3.0), and the header, a Python dict literal
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } padded with
// spaces to a multiple of 64 bytes and ended by a newline; the data
// follows, in C order unless fortran_order.
const npyMagic = "\x93NUMPY"

// MaxNPYHeader bounds a .npy header: numpy itself refuses headers over
// 10,000 bytes unless told otherwise (max_header_size), and a header of a
// tensor of MaxRank dimensions is a few hundred.
const MaxNPYHeader = 64 << 10

// npyTypes are the element types read and written, by numpy's descr.
var npyTypes = map[string]onnx.DType{
	"<f4": onnx.Float,
	"<f8": onnx.Double,
	"<i8": onnx.Int64,
	"<i4": onnx.Int32,
	"|b1": onnx.Bool,
	"|u1": onnx.Uint8,
	"|i1": onnx.Int8,
}

// npyDescr is the descr numpy writes for d, "" for types not written.
func npyDescr(d onnx.DType) string {
	for k, v := range npyTypes {
		if v == d {
			return k
		}
	}
	return ""
}

func decodeNPY(data []byte) (*onnx.Tensor, error) {
	if !bytes.HasPrefix(data, []byte(npyMagic)) {
		return nil, modelfile.FormatErrorf("not a .npy file: no \\x93NUMPY magic string")
	}
	if len(data) < len(npyMagic)+2 {
		return nil, modelfile.FormatErrorf(".npy file ends in its version")
	}
	major, minor := data[6], data[7]
	var hlen, start int
	switch major {
	case 1:
		if len(data) < 10 {
			return nil, modelfile.FormatErrorf(".npy file ends in its header length")
		}
		hlen, start = int(binary.LittleEndian.Uint16(data[8:])), 10
	case 2, 3:
		if len(data) < 12 {
			return nil, modelfile.FormatErrorf(".npy file ends in its header length")
		}
		n := binary.LittleEndian.Uint32(data[8:])
		if n > MaxNPYHeader {
			return nil, modelfile.LimitErrorf(".npy header of %d bytes, more than %d", n, MaxNPYHeader)
		}
		hlen, start = int(n), 12
	default:
		return nil, fmt.Errorf(".npy version %d.%d (lenetkit reads 1.0, 2.0 and 3.0): %w", major, minor, onnx.ErrUnsupported)
	}
	if hlen > len(data)-start {
		return nil, modelfile.FormatErrorf(".npy header of %d bytes, but the file has %d after its length", hlen, len(data)-start)
	}
	h, err := parseNPYHeader(string(data[start : start+hlen]))
	if err != nil {
		return nil, err
	}
	if h.descr == "|O" || h.descr == "O" || strings.HasSuffix(h.descr, "O") {
		return nil, fmt.Errorf(".npy array of Python objects (descr %q), which numpy stores pickled and lenetkit never unpickles: %w", h.descr, onnx.ErrUnsupported)
	}
	dtype, ok := npyTypes[h.descr]
	if !ok {
		return nil, fmt.Errorf(".npy element type %q (lenetkit reads <f4, <f8, <i8, <i4, |b1, |u1, |i1): %w", h.descr, onnx.ErrUnsupported)
	}
	if h.fortran {
		return nil, fmt.Errorf(".npy array in Fortran order (fortran_order True; save it with np.ascontiguousarray): %w", onnx.ErrUnsupported)
	}
	n, err := count(h.shape)
	if err != nil {
		return nil, err
	}
	size := elementSize(dtype)
	body := data[start+hlen:]
	if len(body) != n*size {
		return nil, modelfile.FormatErrorf(".npy array %s of shape %v has %d bytes of data, expected %d", h.descr, h.shape, len(body), n*size)
	}
	t := &onnx.Tensor{DType: dtype, Shape: h.shape}
	le := binary.LittleEndian
	if dtype.IsFloat() {
		t.Float = make([]float32, n)
	} else {
		t.Int = make([]int64, n)
	}
	for i := range n {
		switch dtype {
		case onnx.Float:
			t.Float[i] = math.Float32frombits(le.Uint32(body[4*i:]))
		case onnx.Double:
			t.Float[i] = float32(math.Float64frombits(le.Uint64(body[8*i:])))
		case onnx.Int64:
			t.Int[i] = int64(le.Uint64(body[8*i:]))
		case onnx.Int32:
			t.Int[i] = int64(int32(le.Uint32(body[4*i:])))
		case onnx.Bool:
			t.Int[i] = int64(min(body[i], 1))
		case onnx.Uint8:
			t.Int[i] = int64(body[i])
		case onnx.Int8:
			t.Int[i] = int64(int8(body[i]))
		}
	}
	return t, nil
}

func encodeNPY(t *onnx.Tensor) ([]byte, error) {
	descr := npyDescr(t.DType)
	if descr == "" {
		return nil, fmt.Errorf("tensor %q is %s, which .npy files are not written in (float, double, int64, int32, bool, uint8, int8): %w", t.Name, t.DType, onnx.ErrUnsupported)
	}
	body, err := raw(t)
	if err != nil {
		return nil, err
	}
	dims := make([]string, len(t.Shape))
	for i, d := range t.Shape {
		dims[i] = strconv.Itoa(d)
	}
	shape := "(" + strings.Join(dims, ", ") + ")"
	if len(dims) == 1 {
		shape = "(" + dims[0] + ",)"
	}
	header := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape)
	// Padded with spaces and a newline so that the data starts at a
	// multiple of 64 bytes, as numpy.save does.
	pre := 10
	if len(header)+1+pre > math.MaxUint16 {
		pre = 12
	}
	pad := (64 - (pre+len(header)+1)%64) % 64
	header += strings.Repeat(" ", pad) + "\n"
	out := make([]byte, 0, pre+len(header)+len(body))
	out = append(out, npyMagic...)
	if pre == 10 {
		out = append(out, 1, 0)
		out = binary.LittleEndian.AppendUint16(out, uint16(len(header)))
	} else {
		out = append(out, 2, 0)
		out = binary.LittleEndian.AppendUint32(out, uint32(len(header)))
	}
	out = append(out, header...)
	return append(out, body...), nil
}

type npyHeader struct {
	descr   string
	fortran bool
	shape   []int
}

// parseNPYHeader reads the dict literal numpy writes: exactly the keys
// descr, fortran_order and shape, as numpy.lib.format requires.
func parseNPYHeader(s string) (*npyHeader, error) {
	p := &literal{s: s}
	bad := func(format string, a ...any) error {
		return modelfile.FormatErrorf(".npy header %s: %s", quoteShort(s), fmt.Sprintf(format, a...))
	}
	if !p.eat('{') {
		return nil, bad("not a dict")
	}
	h := &npyHeader{}
	seen := map[string]bool{}
	for {
		if p.eat('}') {
			break
		}
		key, ok := p.str()
		if !ok {
			return nil, bad("a key that is not a string")
		}
		if seen[key] {
			return nil, bad("key %q twice", key)
		}
		seen[key] = true
		if !p.eat(':') {
			return nil, bad("no ':' after key %q", key)
		}
		switch key {
		case "descr":
			p.space()
			if p.peek() == '[' {
				return nil, fmt.Errorf(".npy array of a structured type (descr is a list): %w", onnx.ErrUnsupported)
			}
			if h.descr, ok = p.str(); !ok {
				return nil, bad("descr is not a string")
			}
		case "fortran_order":
			switch {
			case p.word("True"):
				h.fortran = true
			case p.word("False"):
			default:
				return nil, bad("fortran_order is not True or False")
			}
		case "shape":
			if h.shape, ok = p.tuple(); !ok {
				return nil, bad("shape is not a tuple of sizes")
			}
		default:
			return nil, bad("unexpected key %q", key)
		}
		if p.eat(',') {
			continue
		}
		if !p.eat('}') {
			return nil, bad("no ',' or '}' after %s", key)
		}
		break
	}
	p.space()
	if p.i != len(p.s) {
		return nil, bad("text after the dict")
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return nil, bad("no %s", k)
		}
	}
	return h, nil
}

// literal scans a Python literal.
type literal struct {
	s string
	i int
}

func (p *literal) space() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *literal) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *literal) eat(c byte) bool {
	p.space()
	if p.peek() == c {
		p.i++
		return true
	}
	return false
}

func (p *literal) word(w string) bool {
	p.space()
	if strings.HasPrefix(p.s[p.i:], w) {
		p.i += len(w)
		return true
	}
	return false
}

// str reads a quoted string without escapes, which numpy's keys and
// descrs never need.
func (p *literal) str() (string, bool) {
	p.space()
	q := p.peek()
	if q != '\'' && q != '"' {
		return "", false
	}
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", false
	}
	v := p.s[p.i+1 : p.i+1+end]
	if strings.ContainsRune(v, '\\') {
		return "", false
	}
	p.i += end + 2
	return v, true
}

// tuple reads a tuple of non-negative integers: (), (3,), (3, 4).
func (p *literal) tuple() ([]int, bool) {
	if !p.eat('(') {
		return nil, false
	}
	shape := []int{}
	for {
		if p.eat(')') {
			return shape, true
		}
		p.space()
		j := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		if j == p.i || p.i-j > 18 {
			return nil, false
		}
		d, err := strconv.Atoi(p.s[j:p.i])
		if err != nil {
			return nil, false
		}
		if p.peek() == 'L' { // Python 2's long, in files of old numpys
			p.i++
		}
		shape = append(shape, d)
		if p.eat(',') {
			continue
		}
		if p.eat(')') && len(shape) > 1 { // (3) is 3, not a tuple
			return shape, true
		}
		return nil, false
	}
}

// quoteShort quotes a header for an error, cut to a readable length.
func quoteShort(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return strconv.Quote(s)
}
