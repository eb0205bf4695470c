package serve_test

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/digit"
	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/serve"
)

// The models the tests serve: the trained LeNet as PyTorch saved it, the
// same network as an ONNX graph ending in Softmax, and a CNN of 28x28
// input normalised with mean and std 0.5.
var (
	trainedPTH  = testtool.Testdata("lenet_trained.pth")
	softmaxONNX = testtool.Testdata("onnx/seed_softmax.onnx")
	cnn28ONNX   = testtool.Testdata("onnx/cnn28.onnx")
)

// newTestServer serves specs (the trained LeNet, named lenet, when none)
// on an httptest server.
func newTestServer(t testing.TB, opt serve.Options, specs ...serve.ModelSpec) (*serve.Server, *httptest.Server) {
	t.Helper()
	if len(specs) == 0 {
		specs = []serve.ModelSpec{{Name: "lenet", Path: trainedPTH}}
	}
	s, err := serve.New(specs, opt)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() { ts.Close(); s.Close() })
	return s, ts
}

// cleanDigit is a picture of testdata/images/clean and its true label.
type cleanDigit struct {
	file  string
	png   []byte
	label int
}

// cleanDigits reads testdata/images/clean, whose labels.csv gives every
// picture's digit.
func cleanDigits(t testing.TB) []cleanDigit {
	t.Helper()
	dir := testtool.Testdata("images/clean")
	f, err := os.Open(filepath.Join(dir, "labels.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []cleanDigit
	for _, row := range rows[1:] {
		b, err := os.ReadFile(filepath.Join(dir, row[0]))
		if err != nil {
			t.Fatal(err)
		}
		label, err := strconv.Atoi(row[1])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, cleanDigit{row[0], b, label})
	}
	if len(out) < 10 {
		t.Fatalf("only %d clean digits", len(out))
	}
	return out
}

// digitInput is a picture made into a model's input as infer makes it:
// the digit, padded to 1x32x32 and cropped to side x side, in [0, 1].
func digitInput(t testing.TB, pic []byte, side int) []float32 {
	t.Helper()
	img, err := digit.Decode(bytes.NewReader(pic), 0)
	if err != nil {
		t.Fatal(err)
	}
	d, _, err := digit.Prepare(img, digit.InvertAuto)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, digit.InputLen)
	if err := digit.Fill(d, x); err != nil {
		t.Fatal(err)
	}
	off := (32 - side) / 2
	out := make([]float32, 0, side*side)
	for r := range side {
		out = append(out, x[(r+off)*32+off:(r+off)*32+off+side]...)
	}
	return out
}

// answer is an HTTP answer, read whole.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// call sends a request to ts and reads the answer.
func call(t testing.TB, ts *httptest.Server, method, path, contentType string, body []byte) answer {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, b}
}

// decode reads a JSON answer into v, failing t when it is not JSON.
func (a answer) decode(t testing.TB, v any) {
	t.Helper()
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("answer is not JSON: %v\n%s", err, a.body)
	}
}

// inferBody is an inference request of one tensor.
func inferBody(t testing.TB, id string, shape []int, datatype string, data any) []byte {
	t.Helper()
	req := map[string]any{"inputs": []map[string]any{{"name": "input", "shape": shape, "datatype": datatype, "data": data}}}
	if id != "" {
		req["id"] = id
	}
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// inferAnswer is the protocol's inference response.
type inferAnswer struct {
	ModelName    string `json:"model_name"`
	ModelVersion string `json:"model_version"`
	ID           string `json:"id"`
	Outputs      []struct {
		Name     string    `json:"name"`
		Datatype string    `json:"datatype"`
		Shape    []int     `json:"shape"`
		Data     []float32 `json:"data"`
	} `json:"outputs"`
}

// classifyAnswer is /v1/classify's answer.
type classifyAnswer struct {
	Model   string `json:"model"`
	Results []struct {
		File        string  `json:"file"`
		Class       int     `json:"class"`
		Label       string  `json:"label"`
		Probability float64 `json:"probability"`
		Top         []struct {
			Class       int     `json:"class"`
			Label       string  `json:"label"`
			Probability float64 `json:"probability"`
		} `json:"top"`
		Probabilities []float64 `json:"probabilities"`
		Flags         []string  `json:"flags"`
		Image         string    `json:"image"`
		Error         string    `json:"error"`
		Status        int       `json:"status"`
	} `json:"results"`
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// answeredOn is what s's metrics count of the requests answered on route:
// in all, and by status code (an HTTP status, or a gRPC code's name).
func answeredOn(s *serve.Server, route string) (total int, byCode map[string]int) {
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	byCode = map[string]int{}
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "lenetkit_http_requests_total{") || !strings.Contains(line, `route="`+route+`"`) {
			continue
		}
		f := strings.Fields(line)
		n, _ := strconv.Atoi(f[len(f)-1])
		total += n
		code := line[strings.Index(line, `code="`)+len(`code="`):]
		byCode[code[:strings.Index(code, `"`)]] += n
	}
	return total, byCode
}

// softmax is infer's probabilities of logits, in float64.
func softmax(logits []float32) []float64 {
	hi := float64(slices.Max(logits))
	p, sum := make([]float64, len(logits)), 0.0
	for i, v := range logits {
		p[i] = math.Exp(float64(v) - hi)
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
	return p
}
