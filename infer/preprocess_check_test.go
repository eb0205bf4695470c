package infer

import (
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/onnx"
)

// TestDeclaredPreprocessRefused: a file's preprocess metadata is input. A
// std that makes every pixel infinite, a NaN mean or a value of 200 KB end
// in a one-line error, the value quoted short.
func TestDeclaredPreprocessRefused(t *testing.T) {
	in := Geometry{Channels: 1, Height: 32, Width: 32}
	cases := []struct{ value, want string }{
		{`{"pad":2,"mean":0,"std":1e-45}`, "std 1e-45 outside"},
		{`{"pad":2,"mean":NaN,"std":1}`, "invalid character"},
		{`{"pad":2,"mean":1e39,"std":1}`, "cannot unmarshal"},
		{`{"pad":2,"mean":-3e6,"std":1}`, "mean -3e+06 outside"},
		{strings.Repeat("x", 200_000), "(200000 bytes)"},
	}
	for _, c := range cases {
		_, _, err := declaredPreprocess("m.onnx", in, map[string]string{onnx.MetaPreprocess: c.value}, false)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%.40s: %v; want an error with %q", c.value, err, c.want)
			continue
		}
		if len(err.Error()) > 200 {
			t.Errorf("%.40s: an error of %d bytes, not one line", c.value, len(err.Error()))
		}
	}
	if pp, _, err := declaredPreprocess("m.onnx", in, map[string]string{onnx.MetaPreprocess: `{"pad":2,"mean":0.1307,"std":0.3081}`}, false); err != nil || pp.Std != 0.3081 {
		t.Errorf("MNIST's own normalisation: %v, %v", pp, err)
	}
}

// TestDeclaredClasses: a file's class names are input too. Names that
// cannot name its outputs refuse the file in one line; none is nil; good
// ones come back in order.
func TestDeclaredClasses(t *testing.T) {
	cases := []struct{ value, want string }{
		{`["a","b"]`, "names 2 classes; the graph gives 3 scores"},
		{`{"a":0}`, "want a JSON array of class names"},
		{`["a",1,"c"]`, "want a JSON array of class names"},
		{`["a","","c"]`, "class 2 is blank"},
		{`["a","b","a"]`, `classes 1 and 3 both name "a"`},
		{`["a","b\nc","d"]`, "class 2 holds a control character"},
		{`["` + strings.Repeat("x", 200_000), "(200002 bytes)"},
	}
	for _, c := range cases {
		_, err := declaredClasses("m.onnx", map[string]string{onnx.MetaClasses: c.value}, 3)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%.40q: %v; want one line with %q", c.value, err, c.want)
		}
	}
	if names, err := declaredClasses("m.onnx", map[string]string{}, 3); names != nil || err != nil {
		t.Errorf("no metadata: %q, %v; want nil, nil", names, err)
	}
	names, err := declaredClasses("m.onnx", map[string]string{onnx.MetaClasses: `["cat","dog","T-shirt/top"]`}, 3)
	if err != nil || strings.Join(names, "|") != "cat|dog|T-shirt/top" {
		t.Errorf("%q, %v", names, err)
	}
}
