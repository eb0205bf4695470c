package serve

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"sync"
)

// The answers of the two inference routes, written as encoding/json
// writes them but without its reflection and without a buffer made per
// answer: the bytes are the same (TestAnswerJSON compares them).

// answerBuffers keeps answers' buffers between requests.
var answerBuffers = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledAnswer is the largest buffer kept for another answer.
const maxPooledAnswer = 64 << 10

var errNotFinite = errors.New("serve: encoding the answer: a value is not finite")

// writeAnswer answers 200 with the JSON that add appends, and a newline.
func writeAnswer(w http.ResponseWriter, add func([]byte) ([]byte, error)) error {
	bp := answerBuffers.Get().(*[]byte)
	b, err := add((*bp)[:0])
	if err != nil {
		return err
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(b)
	if cap(b) <= maxPooledAnswer {
		*bp = b
		answerBuffers.Put(bp)
	}
	return err
}

// appendFloat appends f as encoding/json writes a float of bits bits (32
// or 64); false for a value JSON cannot hold.
func appendFloat(b []byte, f float64, bits int) ([]byte, bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, false
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	b = strconv.AppendFloat(b, f, format, -1, bits)
	if format == 'e' {
		// e-09 as e-9, as encoding/json writes it.
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}

// appendString appends s as a JSON string as encoding/json writes it:
// printable ASCII other than what it escapes as it is, anything else by
// encoding/json itself.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendFloats appends a []float64 or []float32 as encoding/json does:
// null for nil.
func appendFloats[F float32 | float64](b []byte, v []F, bits int) ([]byte, bool) {
	if v == nil {
		return append(b, "null"...), true
	}
	b = append(b, '[')
	for i, f := range v {
		if i > 0 {
			b = append(b, ',')
		}
		var ok bool
		if b, ok = appendFloat(b, float64(f), bits); !ok {
			return b, false
		}
	}
	return append(b, ']'), true
}

// appendInferAnswer appends r as json.Marshal writes it.
func appendInferAnswer(b []byte, r *inferResponse) ([]byte, error) {
	b = append(b, `{"model_name":`...)
	b = appendString(b, r.ModelName)
	b = append(b, `,"model_version":`...)
	b = appendString(b, r.ModelVersion)
	if r.ID != nil {
		b = append(b, `,"id":`...)
		b = appendString(b, *r.ID)
	}
	b = append(b, `,"outputs":`...)
	if r.Outputs == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, o := range r.Outputs {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = appendString(b, o.Name)
			b = append(b, `,"datatype":`...)
			b = appendString(b, o.Datatype)
			b = append(b, `,"shape":`...)
			if o.Shape == nil {
				b = append(b, "null"...)
			} else {
				b = append(b, '[')
				for k, d := range o.Shape {
					if k > 0 {
						b = append(b, ',')
					}
					b = strconv.AppendInt(b, d, 10)
				}
				b = append(b, ']')
			}
			b = append(b, `,"data":`...)
			var ok bool
			if b, ok = appendFloats(b, o.Data, 32); !ok {
				return b, errNotFinite
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

// appendClassifyAnswer appends /v1/classify's answer as json.Marshal
// writes it.
func appendClassifyAnswer(b []byte, model string, res []classified) ([]byte, error) {
	b = append(b, `{"model":`...)
	b = appendString(b, model)
	b = append(b, `,"results":`...)
	if res == nil {
		b = append(b, "null"...)
		return append(b, '}'), nil
	}
	b = append(b, '[')
	var ok bool
	for i := range res {
		c := &res[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"file":`...)
		b = appendString(b, c.File)
		if c.failed != nil {
			b = append(b, `,"error":`...)
			b = appendString(b, c.failed.msg)
			b = append(b, `,"status":`...)
			b = strconv.AppendInt(b, int64(c.failed.status), 10)
			b = append(b, '}')
			continue
		}
		b = append(b, `,"class":`...)
		b = strconv.AppendInt(b, int64(c.Class), 10)
		b = append(b, `,"label":`...)
		b = appendString(b, c.Label)
		b = append(b, `,"probability":`...)
		if b, ok = appendFloat(b, c.Probability, 64); !ok {
			return b, errNotFinite
		}
		b = append(b, `,"top":`...)
		if c.Top == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, '[')
			for k, t := range c.Top {
				if k > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"class":`...)
				b = strconv.AppendInt(b, int64(t.Class), 10)
				b = append(b, `,"label":`...)
				b = appendString(b, t.Label)
				b = append(b, `,"probability":`...)
				if b, ok = appendFloat(b, t.Probability, 64); !ok {
					return b, errNotFinite
				}
				b = append(b, '}')
			}
			b = append(b, ']')
		}
		b = append(b, `,"probabilities":`...)
		if b, ok = appendFloats(b, c.Probabilities, 64); !ok {
			return b, errNotFinite
		}
		if len(c.Flags) > 0 {
			b = append(b, `,"flags":[`...)
			for k, f := range c.Flags {
				if k > 0 {
					b = append(b, ',')
				}
				b = appendString(b, f)
			}
			b = append(b, ']')
		}
		if c.Image != "" {
			b = append(b, `,"image":`...)
			b = appendString(b, c.Image)
		}
		b = append(b, '}')
	}
	b = append(b, ']')
	return append(b, '}'), nil
}
