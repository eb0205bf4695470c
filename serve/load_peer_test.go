package serve_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lenetkit/lenetkit/internal/testtool"
)

// TestLoadPeer checks reference/ort_serve.js, BenchmarkServeLoad's peer, on
// its own: the routes and JSON shapes of lenetkit serve's contract, the
// MNIST digits' labels by both routes, its refusals, and a clean SIGTERM.
func TestLoadPeer(t *testing.T) {
	node := testtool.RequireORT(t)
	model := testtool.Testdata("onnx/seed_view.onnx")
	s := &loadServer{Name: "onnxruntime-node", prog: node, args: []string{testtool.Reference("ort_serve.js"), "--model", model, "--port", "PORT"}}
	s.start(t, t.TempDir())
	s.wait(t, 60*time.Second)
	s.describe(t, "seed_view")
	if s.input != "input" || len(s.shape) != 4 || s.shape[0] != -1 || s.shape[2] != 32 || s.shape[3] != 32 {
		t.Errorf("input %s %v, want input [-1,1,32,32]", s.input, s.shape)
	}
	digits := loadDigits(t, testtool.Testdata("images/clean"))
	s.prepare(t, "seed_view", digits)
	s.classes = s.answers(t, digits)
	for i, d := range digits {
		if s.classes[i].class != d.label {
			t.Errorf("%s: class %d, label %d", d.file, s.classes[i].class, d.label)
		}
	}

	post := func(path, ctype, body string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Post(s.base+path, ctype, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		var v map[string]any
		if err := json.Unmarshal(data, &v); err != nil {
			t.Errorf("POST %s: %v: %s", path, err, data)
		}
		return resp.StatusCode, v
	}

	// A batch of two, the first digit twice: [2,10], both rows the same.
	var one struct {
		Inputs []map[string]any `json:"inputs"`
	}
	if err := json.Unmarshal(s.routes["/v2/models/{name}/infer"].bodies[0], &one); err != nil {
		t.Fatal(err)
	}
	data := one.Inputs[0]["data"].([]any)
	two := `{"id":"x","inputs":[{"name":"input","shape":[2,1,32,32],"datatype":"FP32","data":` + mustJSON(t, append(append([]any{}, data...), data...)) + `}]}`
	code, v := post("/v2/models/seed_view/infer", "application/json", two)
	if code != 200 || v["model_name"] != "seed_view" || v["id"] != "x" {
		t.Fatalf("batch of 2: %d %v", code, v)
	}
	out := v["outputs"].([]any)[0].(map[string]any)
	if mustJSON(t, out["shape"]) != "[2,10]" || out["datatype"] != "FP32" || out["name"] != "output" {
		t.Errorf("batch of 2: output %v %v %v", out["name"], out["datatype"], out["shape"])
	}
	if row := out["data"].([]any); mustJSON(t, row[:10]) != mustJSON(t, row[10:]) {
		t.Errorf("batch of 2: the rows differ: %v", row)
	}

	png, _ := os.ReadFile(testtool.Testdata("images/clean/00000.png"))
	code, v = post("/v1/classify?top=2", "image/png", string(png))
	r := v["results"].([]any)[0].(map[string]any)
	if code != 200 || v["model"] != "seed_view" || r["label"] != "7" || len(r["top"].([]any)) != 2 || len(r["probabilities"].([]any)) != 10 {
		t.Errorf("classify 00000.png: %d %v", code, v)
	}

	jpeg, _ := os.ReadFile(testtool.Testdata("images/photo/00000.jpg"))
	for _, c := range []struct {
		path, ctype, body string
		want              int
	}{
		{"/v1/classify", "image/jpeg", string(jpeg), 415},
		{"/v1/classify", "image/png", string(png[:len(png)/2]), 415},
		{"/v1/classify?model=other", "image/png", string(png), 404},
		{"/v1/classify?top=0", "image/png", string(png), 400},
		{"/v2/models/seed_view/infer", "application/json", `{"inputs":[{"name":"input","shape":[1,1,28,28],"datatype":"FP32","data":[]}]}`, 400},
		{"/v2/models/seed_view/infer", "application/json", `{"inputs":[{"name":"x","shape":[1,1,32,32],"datatype":"FP32","data":[]}]}`, 400},
		{"/v2/models/seed_view/infer", "application/json", `{"inputs":`, 400},
		{"/v2/models/other/infer", "application/json", `{}`, 404},
	} {
		if code, v := post(c.path, c.ctype, c.body); code != c.want || v["error"] == nil {
			t.Errorf("POST %s (%s): %d %v, want %d and an error", c.path, c.ctype, code, v, c.want)
		}
	}
	if code := s.stop(10 * time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM\n%s", code, s.logTail())
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
