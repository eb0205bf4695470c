package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// inferBodies are requests as clients write them, and ones the fast
// reader must decline or read as encoding/json does.
var inferBodies = []struct {
	body string
	fast bool // whether the fast reader takes it
}{
	{`{"inputs":[{"name":"input","shape":[1,1,2,2],"datatype":"FP32","data":[0,0.5,1,0.25]}]}`, true},
	{` {"id":"a-1", "inputs": [ {"name": "input", "shape": [1, 1, 2, 2], "datatype": "FP32", "data": [[[[0, 1e-3], [2E+1, -0.0]]]]} ],` + "\n" + `"outputs":[{"name":"output"}]}` + "\r\n", true},
	{`{"id":null,"parameters":{},"inputs":[{"name":"input","shape":[],"datatype":"UINT8","parameters":null,"data":[]}],"outputs":[]}`, true},
	{`{"inputs":[],"outputs":[{"name":"output","parameters":{}}]}`, true},
	{`{}`, true},
	{`{"inputs":[{}]}`, true},
	{`{"inputs":[{"name":"input","shape":[-0,1,32,32],"datatype":"FP32","data":[1]}]}`, true},
	// Declined: encoding/json reads them, or refuses them in its words.
	{`{"Inputs":[]}`, false},
	{`{"inputs":[],"inputs":[]}`, false},
	{`{"id":"\u0041","inputs":[]}`, false},
	{`{"id":"é","inputs":[]}`, false},
	{`{"parameters":{"a":1},"inputs":[]}`, false},
	{`{"inputs":[{"shape":[1.0]}]}`, false},
	{`{"inputs":[{"shape":[1e2]}]}`, false},
	{`{"inputs":[{"shape":[1234567890123456789]}]}`, false},
	{`{"inputs":[{"data":null}]}`, false},
	{`{"inputs":[{"data":[01]}]}`, false},
	{`{"inputs":[{"data":[1.]}]}`, false},
	{`{"inputs":[{"data":[.5]}]}`, false},
	{`{"inputs":[{"data":[1,]}]}`, false},
	{`{"inputs":[{"data":[NaN]}]}`, false},
	{`{"inputs":[{"data":["0.5"]}]}`, false},
	{`{"inputs":[{"data":[1]}]`, false},
	{`{"inputs":[]} {}`, false},
	{`{"inputs":[]}x`, false},
	{`{"id":42,"inputs":[]}`, false},
	{`{"inputs":[{"name":"input","extra":1}]}`, false},
	{`[1,2]`, false},
	{``, false},
	{`{"inputs":[{"data":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}]}`, false},
}

// TestParseInferRequest checks which requests the fast reader takes, and
// that it reads them as encoding/json does.
func TestParseInferRequest(t *testing.T) {
	for _, c := range inferBodies {
		var fast inferRequest
		got := parseInferRequest([]byte(c.body), &fast)
		if got != c.fast {
			t.Errorf("%s: fast reader took it: %v, want %v", c.body, got, c.fast)
		}
		if got {
			sameAsJSON(t, []byte(c.body), &fast)
		}
	}
}

// sameAsJSON fails unless encoding/json reads body without error into
// what the fast reader read.
func sameAsJSON(t *testing.T, body []byte, fast *inferRequest) {
	t.Helper()
	var slow inferRequest
	if err := decodeJSONFrom(bytes.NewReader(body), &slow); err != nil {
		t.Fatalf("%q: the fast reader took what decodeJSON refuses: %v", body, err)
	}
	if !reflect.DeepEqual(*fast, slow) {
		a, _ := json.Marshal(fast)
		b, _ := json.Marshal(slow)
		t.Fatalf("%q: fast reader read %s, encoding/json %s", body, a, b)
	}
}

// FuzzInferRequest: whatever the fast reader takes, decodeJSON takes too,
// and reads the same.
func FuzzInferRequest(f *testing.F) {
	for _, c := range inferBodies {
		f.Add([]byte(c.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var fast inferRequest
		if parseInferRequest(body, &fast) {
			sameAsJSON(t, body, &fast)
		}
	})
}

// TestReadInferRequest checks that a body read whole for the fast reader
// gives what decodeJSON gives reading it itself, when it ends early or
// fails.
func TestReadInferRequest(t *testing.T) {
	good := `{"inputs":[{"name":"input","shape":[1,1,1,2],"datatype":"FP32","data":[0.5,1]}]}`
	broken := errors.New("connection reset")
	for _, c := range []struct {
		name   string
		body   string
		length int64
		err    error // what the body fails with where it ends; nil: io.EOF
	}{
		{"whole", good, int64(len(good)), nil},
		{"unusual, whole", `{"Inputs":[]}`, 13, nil},
		{"ends early", good[:20], int64(len(good)), nil},
		{"ends at once", "", 10, nil},
		{"fails inside", good[:20], int64(len(good)), broken},
		{"fails at once", "", 10, broken},
		{"ends early, short read", good[:20], int64(len(good)), io.ErrUnexpectedEOF},
		{"ends at once, short read", "", 10, io.ErrUnexpectedEOF},
	} {
		newBody := func() io.Reader {
			var r io.Reader = strings.NewReader(c.body)
			if c.err != nil {
				r = io.MultiReader(r, errReader{c.err})
			}
			return iotest.HalfReader(r)
		}
		req := httptest.NewRequest(http.MethodPost, "/v2/models/m/infer", newBody())
		req.ContentLength = c.length
		var got, want inferRequest
		release, err := readInferRequest(req, &got)
		release()
		werr := decodeJSONFrom(newBody(), &want)
		if fmt.Sprint(err) != fmt.Sprint(werr) || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: read %+v, %v; decodeJSON %+v, %v", c.name, got, err, want, werr)
		}
	}
}
