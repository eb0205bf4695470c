package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"unsafe"
)

// numberByte marks the bytes a JSON number is made of.
var numberByte = func() (t [256]bool) {
	for _, c := range []byte("0123456789.eE+-") {
		t[c] = true
	}
	return t
}()

// plainFloat reads the numbers clients send most, fast: unsigned decimals
// without an exponent of at most 15 digits (0, 1, 0.5, 0.44705883, as
// json.Marshal and json.dumps write pixel values). The digits make an
// integer n < 10^15 and a power of ten, both exact in float64, so their
// quotient is the correctly rounded float64 of the decimal; rounding that
// to float32 gives ParseFloat's answer unless it fell exactly on a
// midpoint between two float32s, which is left to ParseFloat, as is
// anything else (an exponent, a sign, more digits).
func plainFloat(b []byte) (float32, bool) {
	if len(b) == 0 || len(b) > 16 {
		return 0, false
	}
	var n uint64
	frac, point := 0, false
	for k, c := range b {
		switch {
		case c >= '0' && c <= '9':
			n = n*10 + uint64(c-'0')
			if point {
				frac++
			}
		case c == '.' && !point && k > 0 && k < len(b)-1:
			point = true
		default:
			return 0, false
		}
	}
	if n >= 1e15 {
		return 0, false
	}
	f := float64(n) / pow10f[frac]
	const below = 1<<29 - 1 // float64's mantissa bits under float32's
	if math.Float64bits(f)&below == 1<<28 {
		return 0, false
	}
	return float32(f), true
}

var pow10f = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// decodeJSON reads r's body, one JSON object, into v, and turns what can
// go wrong into the refusal that says so.
func decodeJSON(r *http.Request, v any) error { return decodeJSONFrom(r.Body, v) }

// decodeJSONFrom is decodeJSON of body.
func decodeJSONFrom(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			if err := readFault(terr); err != nil {
				return err
			}
			return fail(http.StatusBadRequest, "malformed JSON: more follows the request object at byte %d; send one object", dec.InputOffset())
		}
		return nil
	}
	if rerr := readFault(err); rerr != nil {
		return rerr
	}
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case errors.Is(err, io.EOF):
		return fail(http.StatusBadRequest, "empty body: send an inference request, a JSON object with \"inputs\"")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fail(http.StatusBadRequest, "malformed JSON: the body ends inside the object")
	case errors.As(err, &syn):
		msg := fmt.Sprintf("malformed JSON at byte %d: %v", syn.Offset, syn)
		if e := syn.Error(); strings.Contains(e, "'N'") || strings.Contains(e, "'I'") {
			// Python's json.dumps writes NaN and Infinity, which are not
			// JSON; say why a model could not use them anyway.
			msg += "; NaN and Infinity are not JSON numbers, and a model needs finite inputs"
		}
		return fail(http.StatusBadRequest, "%s", msg)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "the request"
		}
		return fail(http.StatusBadRequest, "malformed request: %s is a JSON %s, not %s (see the Open Inference Protocol's inference request)", field, typ.Value, jsonKind(typ.Type.String()))
	}
	return fail(http.StatusBadRequest, "malformed request: %v", err)
}

// jsonKind names a Go type as the JSON a client should have sent.
func jsonKind(goType string) string {
	switch goType {
	case "string", "*string":
		return "a string"
	case "int64", "[]int64":
		return "an integer"
	case "[]serve.requestTensor", "[]serve.requestOutput":
		return "an array of objects"
	case "serve.inferRequest":
		return "an object"
	}
	return goType
}

// readFault is the refusal for a body that could not be read whole: 413
// for one over --max-body, 408 for one that did not arrive in time; nil
// for any other error.
func readFault(err error) error {
	var (
		mb *http.MaxBytesError
		ne net.Error
	)
	switch {
	case errors.As(err, &mb):
		return fail(http.StatusRequestEntityTooLarge, "the body is over %d bytes (--max-body); send fewer or smaller images a request", mb.Limit)
	case errors.As(err, &ne) && ne.Timeout():
		return fail(http.StatusRequestTimeout, "the body did not arrive in time (--read-timeout); send it at once")
	}
	return nil
}

// tensorData reads a tensor's data, given flat or nested as its shape
// (the protocol allows both; the values are in row-major order either
// way), as float32 pixel values: FP32 as they are, which must be finite,
// and UINT8 0 to 255 scaled to [0, 1] as ToTensor scales them. It stops
// past max values: the caller knows how many the shape needs.
func tensorData(datatype string, raw json.RawMessage, max int) (*[]float32, error) {
	uint8s, err := pixelDatatype(datatype)
	if err != nil {
		return nil, err
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '[' {
		return nil, fail(http.StatusBadRequest, "inputs[0].data is missing or not an array: give the tensor's values, flat or nested as its shape")
	}
	xp := getFloats(min(max, len(raw)/2+1))
	x := (*xp)[:0]
	defer func() { *xp = x }()
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '[' || c == ']' || c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			continue
		case c != '-' && (c < '0' || c > '9'):
			// The body is valid JSON: this is a string, true, false,
			// null or an object.
			return nil, fail(http.StatusBadRequest, "inputs[0].data[%d] is not a number; %s data are numbers", len(x), datatype)
		}
		end := i + 1
		for end < len(raw) && numberByte[raw[end]] {
			end++
		}
		if len(x) == max {
			return nil, fail(http.StatusBadRequest, "inputs[0].data has more than the %d values its shape needs", max)
		}
		if v, ok := plainFloat(raw[i:end]); ok && !uint8s {
			x = append(x, v)
			i = end
			continue
		}
		// A view of raw, not a copy: ParseFloat keeps nothing of it, and
		// a copy per value was most of this function's time.
		num := unsafe.String(&raw[i], end-i)
		i = end
		if uint8s {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil || v != math.Trunc(v) || v < 0 || v > 255 {
				return nil, fail(http.StatusBadRequest, "inputs[0].data[%d] is %s; UINT8 values are whole numbers 0 to 255", len(x), num)
			}
			x = append(x, uint8Pixel(uint8(v)))
			continue
		}
		v, err := strconv.ParseFloat(num, 32)
		if err != nil {
			return nil, fail(http.StatusBadRequest, "inputs[0].data[%d] is %s, not a finite FP32 value; the model needs finite inputs", len(x), num)
		}
		x = append(x, float32(v))
	}
	return xp, nil
}
