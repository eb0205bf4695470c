package serve

// A fast reader of the common inference request. encoding/json scans a
// request's bytes twice (once to find the value's end, once to decode it,
// skipping the tensor's data as a RawMessage) before tensorData parses the
// numbers: on the v2 route that was a fifth of the server's CPU under
// load. parseInferRequest takes the requests clients send, in one pass
// that checks the data's syntax, and declines anything else (an unknown or
// repeated key, a key in other case, a string with an escape or a
// non-ASCII byte, a parameter, a null where a value should be, any
// malformed JSON): decodeJSON then reads those as before, so that every
// refusal keeps its words. What it takes, it takes as encoding/json does
// (FuzzInferRequest checks that).

import (
	"bytes"
	"io"
	"net/http"
	"sync"
)

// maxFastBody is the largest body, in bytes, that readInferRequest reads
// whole for the fast reader: a batch of 32 digits as JSON is about 100 KB.
const maxFastBody = 1 << 20

// bodyBuffers keeps the bodies' buffers between requests.
var bodyBuffers = sync.Pool{New: func() any { return new([]byte) }}

// readInferRequest reads r's body into req: by the fast reader when it
// takes it, else by decodeJSON, which sees the same bytes, and the same
// read error, as it would have from the body itself. release gives the
// body's buffer back once req's Data are no longer used.
func readInferRequest(r *http.Request, req *inferRequest) (release func(), err error) {
	n := r.ContentLength
	if n <= 0 || n > maxFastBody {
		return func() {}, decodeJSON(r, req)
	}
	bp := bodyBuffers.Get().(*[]byte)
	release = func() { bodyBuffers.Put(bp) }
	if int64(cap(*bp)) < n {
		*bp = make([]byte, n)
	}
	body := (*bp)[:n]
	// Read as io.ReadFull does, but keeping the body's own error, which
	// decodeJSON must see as it would have.
	got := 0
	var rerr error
	for empty := 0; got < len(body) && rerr == nil; {
		var k int
		k, rerr = r.Body.Read(body[got:])
		got += k
		if k == 0 {
			if empty++; empty == 100 {
				rerr = io.ErrNoProgress
			}
		}
	}
	if got == len(body) && (rerr == nil || rerr == io.EOF) && parseInferRequest(body, req) {
		return release, nil
	}
	*req = inferRequest{}
	var rest io.Reader = r.Body
	if rerr != nil {
		rest = errReader{rerr}
	}
	return release, decodeJSONFrom(io.MultiReader(bytes.NewReader(body[:got]), rest), req)
}

// errReader is a reader that fails with err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// maxDataDepth bounds the nesting of a tensor's data the fast reader
// follows; deeper data goes to encoding/json.
const maxDataDepth = 32

// jsonReader reads one JSON value after another from b.
type jsonReader struct {
	b []byte
	i int
}

func (p *jsonReader) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// next skips whitespace and tells whether c comes next, taking it if so.
func (p *jsonReader) next(c byte) bool {
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// literal takes word (null) if it comes next.
func (p *jsonReader) literal(word string) bool {
	p.ws()
	if len(p.b)-p.i >= len(word) && string(p.b[p.i:p.i+len(word)]) == word {
		p.i += len(word)
		return true
	}
	return false
}

// str reads a string of printable ASCII without escapes, as bytes of b.
func (p *jsonReader) str() ([]byte, bool) {
	if !p.next('"') {
		return nil, false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return p.b[start : p.i-1], true
		case c < 0x20 || c >= 0x80 || c == '\\':
			return nil, false
		}
		p.i++
	}
	return nil, false
}

// number reads a JSON number, checking its grammar: -?(0|[1-9]d*)(.d+)?([eE][+-]?d+)?.
func (p *jsonReader) number() bool {
	b, i := p.b, p.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	p.i = i
	return true
}

// list reads an array, calling elem for each element.
func (p *jsonReader) list(elem func() bool) bool {
	if !p.next('[') {
		return false
	}
	if p.next(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if p.next(']') {
			return true
		}
		if !p.next(',') {
			return false
		}
	}
}

// object reads an object, calling field for each key with its value next.
// A key twice declines: field gives each key it takes a bit of its own.
func (p *jsonReader) object(field func(key []byte) (bit uint, ok bool)) bool {
	if !p.next('{') {
		return false
	}
	if p.next('}') {
		return true
	}
	var seen uint
	for {
		k, ok := p.str()
		if !ok || !p.next(':') {
			return false
		}
		bit, ok := field(k)
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		if p.next('}') {
			return true
		}
		if !p.next(',') {
			return false
		}
	}
}

// noParameters reads a parameters object that is null or empty, as
// encoding/json gives them: a nil map, or an empty one.
func (p *jsonReader) noParameters(m *map[string]any) bool {
	if p.literal("null") {
		*m = nil
		return true
	}
	if p.next('{') && p.next('}') {
		*m = map[string]any{}
		return true
	}
	return false
}

// int64s reads an array of integers of at most 18 digits.
func (p *jsonReader) int64s() ([]int64, bool) {
	out := []int64{}
	ok := p.list(func() bool {
		p.ws()
		start := p.i
		if !p.number() {
			return false
		}
		num := p.b[start:p.i]
		neg := num[0] == '-'
		if neg {
			num = num[1:]
		}
		if len(num) > 18 {
			return false
		}
		var v int64
		for _, c := range num {
			if c < '0' || c > '9' { // a fraction or an exponent
				return false
			}
			v = v*10 + int64(c-'0')
		}
		if neg {
			v = -v
		}
		out = append(out, v)
		return true
	})
	return out, ok
}

// data reads a tensor's data, numbers in arrays nested at most
// maxDataDepth deep, and returns its bytes.
func (p *jsonReader) data() ([]byte, bool) {
	p.ws()
	start := p.i
	var elem func(depth int) bool
	elem = func(depth int) bool {
		p.ws()
		if p.i < len(p.b) && p.b[p.i] == '[' {
			return depth < maxDataDepth && p.list(func() bool { return elem(depth + 1) })
		}
		return p.number()
	}
	if p.i >= len(p.b) || p.b[p.i] != '[' || !elem(0) {
		return nil, false
	}
	return p.b[start:p.i], true
}

// parseInferRequest reads body into req when it is a request the fast
// reader takes, and tells whether it was. req's strings are copies; its
// tensors' Data are views of body.
func parseInferRequest(body []byte, req *inferRequest) bool {
	p := &jsonReader{b: body}
	ok := p.object(func(key []byte) (uint, bool) {
		switch string(key) {
		case "id":
			if p.literal("null") {
				req.ID = nil
				return 1, true
			}
			s, ok := p.str()
			if ok {
				id := string(s)
				req.ID = &id
			}
			return 1, ok
		case "parameters":
			return 2, p.noParameters(&req.Parameters)
		case "inputs":
			req.Inputs = []requestTensor{}
			return 4, p.list(func() bool {
				var t requestTensor
				ok := p.object(func(key []byte) (uint, bool) {
					var s []byte
					var ok bool
					switch string(key) {
					case "name":
						s, ok = p.str()
						t.Name = string(s)
						return 1, ok
					case "datatype":
						s, ok = p.str()
						t.Datatype = string(s)
						return 2, ok
					case "shape":
						t.Shape, ok = p.int64s()
						return 4, ok
					case "parameters":
						return 8, p.noParameters(&t.Parameters)
					case "data":
						t.Data, ok = p.data()
						return 16, ok
					}
					return 0, false
				})
				req.Inputs = append(req.Inputs, t)
				return ok
			})
		case "outputs":
			req.Outputs = []requestOutput{}
			return 8, p.list(func() bool {
				var o requestOutput
				ok := p.object(func(key []byte) (uint, bool) {
					switch string(key) {
					case "name":
						s, ok := p.str()
						o.Name = string(s)
						return 1, ok
					case "parameters":
						return 2, p.noParameters(&o.Parameters)
					}
					return 0, false
				})
				req.Outputs = append(req.Outputs, o)
				return ok
			})
		}
		return 0, false
	})
	p.ws()
	return ok && p.i == len(p.b)
}
