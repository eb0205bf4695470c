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
