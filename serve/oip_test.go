package serve_test

import (
	"encoding/json"
	"math"
	"net/http"
	"reflect"
	"testing"

	"github.com/lenetkit/lenetkit/infer"
	"github.com/lenetkit/lenetkit/serve"
)

// TestOIPRoutes sends each route of the Open Inference Protocol the
// requests its specification shows, adapted to the models served, and
// checks the answers are as it documents them; inference answers are
// checked against the images' true digits and against infer's own run of
// the model.
func TestOIPRoutes(t *testing.T) {
	_, ts := newTestServer(t, serve.Options{Version: "9.9-test"},
		serve.ModelSpec{Name: "lenet", Path: trainedPTH},
		serve.ModelSpec{Name: "softmax", Path: softmaxONNX},
		serve.ModelSpec{Name: "cnn28", Path: cnn28ONNX})
	digits := cleanDigits(t)[:4]
	var x32, x28 []float32
	var u8 []int
	for _, d := range digits {
		x32 = append(x32, digitInput(t, d.png, 32)...)
		x28 = append(x28, digitInput(t, d.png, 28)...)
	}
	for _, v := range x32 {
		u8 = append(u8, int(math.Round(float64(v)*255)))
	}
	// The same batch through infer, as lenetkit infer runs the file.
	m, err := infer.Open(trainedPTH, "")
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float32, len(digits)*10)
	if err := m.Logits(want, x32, len(digits)); err != nil {
		t.Fatal(err)
	}
	nested := make([][][][]float32, 2)
	for i := range nested {
		nested[i] = [][][]float32{make([][]float32, 32)}
		for r := range 32 {
			nested[i][0][r] = x32[i*1024+r*32 : i*1024+r*32+32]
		}
	}

	// outputs checks an inference answer: the model, the id, one output
	// [n, 10] whose rows' largest value is the image's digit.
	outputs := func(model, id string, n int) func(*testing.T, answer) []float32 {
		return func(t *testing.T, a answer) []float32 {
			var r inferAnswer
			a.decode(t, &r)
			if r.ModelName != model || r.ModelVersion != "1" || r.ID != id || len(r.Outputs) != 1 {
				t.Fatalf("model %q version %q id %q, %d outputs; want %q, \"1\", %q, 1:\n%s", r.ModelName, r.ModelVersion, r.ID, len(r.Outputs), model, id, a.body)
			}
			o := r.Outputs[0]
			if o.Name != "output" || o.Datatype != "FP32" || !reflect.DeepEqual(o.Shape, []int{n, 10}) || len(o.Data) != n*10 {
				t.Fatalf("output %q %s %v of %d values, want \"output\" FP32 [%d 10]", o.Name, o.Datatype, o.Shape, len(o.Data), n)
			}
			for i := range n {
				if got := argmax(o.Data[i*10 : i*10+10]); got != digits[i].label {
					t.Errorf("%s: class %d, want %d", digits[i].file, got, digits[i].label)
				}
			}
			return o.Data
		}
	}
	same := func(t *testing.T, got, want []float32, tol float64) {
		t.Helper()
		for i := range want {
			if math.Abs(float64(got[i]-want[i])) > tol {
				t.Fatalf("value %d is %g, want %g", i, got[i], want[i])
			}
		}
	}
	sumsToOne := func(t *testing.T, p []float32) {
		t.Helper()
		for i := 0; i < len(p); i += 10 {
			s := 0.0
			for _, v := range p[i : i+10] {
				s += float64(v)
			}
			if math.Abs(s-1) > 1e-4 {
				t.Errorf("row %d sums to %g, not 1: not probabilities", i/10, s)
			}
		}
	}
	jsonIs := func(want string) func(*testing.T, answer) {
		return func(t *testing.T, a answer) {
			var got, w any
			a.decode(t, &got)
			if err := json.Unmarshal([]byte(want), &w); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, w) {
				t.Errorf("answer %s, want %s", a.body, want)
			}
		}
	}
	var inferOut []float32
	cases := []struct {
		name, method, path string
		body               []byte
		check              func(*testing.T, answer)
	}{
		{"server live", "GET", "/v2/health/live", nil, jsonIs(`{"live":true}`)},
		{"server ready", "GET", "/v2/health/ready", nil, jsonIs(`{"ready":true}`)},
		{"server metadata", "GET", "/v2", nil, jsonIs(`{"name":"lenetkit","version":"9.9-test","extensions":[]}`)},
		{"model metadata", "GET", "/v2/models/lenet", nil, jsonIs(`{"name":"lenet","versions":["1"],"platform":"lenetkit_pth",
			"inputs":[{"name":"input","datatype":"FP32","shape":[-1,1,32,32]}],"outputs":[{"name":"output","datatype":"FP32","shape":[-1,10]}]}`)},
		{"model metadata of a version", "GET", "/v2/models/cnn28/versions/1", nil, jsonIs(`{"name":"cnn28","versions":["1"],"platform":"lenetkit_onnx",
			"inputs":[{"name":"input","datatype":"FP32","shape":[-1,1,28,28]}],"outputs":[{"name":"output","datatype":"FP32","shape":[-1,10]}]}`)},
		{"model ready", "GET", "/v2/models/lenet/ready", nil, jsonIs(`{"name":"lenet","ready":true}`)},
		{"model ready of a version", "GET", "/v2/models/softmax/versions/1/ready", nil, jsonIs(`{"name":"softmax","ready":true}`)},
		{"infer", "POST", "/v2/models/lenet/infer", inferBody(t, "42", []int{4, 1, 32, 32}, "FP32", x32), func(t *testing.T, a answer) {
			inferOut = outputs("lenet", "42", 4)(t, a)
			same(t, inferOut, want, 1e-5)
		}},
		{"infer a version, the output asked for", "POST", "/v2/models/lenet/versions/1/infer",
			[]byte(`{"inputs":[{"name":"input","shape":[1,1,32,32],"datatype":"FP32","data":` + string(mustMarshal(t, x32[:1024])) + `}],"outputs":[{"name":"output"}]}`),
			func(t *testing.T, a answer) { same(t, outputs("lenet", "", 1)(t, a), want[:10], 1e-5) }},
		{"infer, the images flattened, [N, C*H*W]", "POST", "/v2/models/lenet/infer", inferBody(t, "flat", []int{4, 1024}, "FP32", x32),
			func(t *testing.T, a answer) { same(t, outputs("lenet", "flat", 4)(t, a), want, 1e-5) }},
		{"infer, data nested as the shape", "POST", "/v2/models/lenet/infer", inferBody(t, "nested", []int{2, 1, 32, 32}, "FP32", nested),
			func(t *testing.T, a answer) { same(t, outputs("lenet", "nested", 2)(t, a), want[:20], 1e-5) }},
		{"infer, UINT8 pixels", "POST", "/v2/models/lenet/infer", inferBody(t, "", []int{4, 1, 32, 32}, "UINT8", u8),
			func(t *testing.T, a answer) { same(t, outputs("lenet", "", 4)(t, a), want, 1e-5) }},
		{"infer, a graph ending in Softmax", "POST", "/v2/models/softmax/infer", inferBody(t, "", []int{4, 1, 32, 32}, "FP32", x32),
			func(t *testing.T, a answer) { sumsToOne(t, outputs("softmax", "", 4)(t, a)) }},
		{"infer, 28x28 input normalised", "POST", "/v2/models/cnn28/infer", inferBody(t, "", []int{4, 1, 28, 28}, "FP32", x28),
			func(t *testing.T, a answer) { outputs("cnn28", "", 4)(t, a) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := call(t, ts, c.method, c.path, "application/json", c.body)
			if a.status != http.StatusOK {
				t.Fatalf("status %d, want 200: %s", a.status, a.body)
			}
			c.check(t, a)
		})
	}
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
