package serve_test

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/onnx"
	"github.com/lenetkit/lenetkit/serve"
)

// TestColourModelTensors: a colour model (testdata/onnx/rgb_tiny.onnx,
// 3x16x16, from reference/rgb_model.py) is served on the tensor routes:
// its metadata says its shape, and a batch of 5 tensors gets the logits
// ONNX Runtime gives the same tensors. /v1/classify, which makes grey
// digits, sends it to the tensor route.
func TestColourModelTensors(t *testing.T) {
	model := testtool.Testdata(filepath.Join("onnx", "rgb_tiny.onnx"))
	_, ts := newTestServer(t, serve.Options{}, serve.ModelSpec{Name: "rgb", Path: model})
	var meta struct {
		Inputs []struct{ Shape []int64 }
	}
	call(t, ts, "GET", "/v2/models/rgb", "", nil).decode(t, &meta)
	if len(meta.Inputs) != 1 || !slices.Equal(meta.Inputs[0].Shape, []int64{-1, 3, 16, 16}) {
		t.Fatalf("metadata inputs %+v, want [-1,3,16,16]", meta.Inputs)
	}
	const n, size, classes = 5, 3 * 16 * 16, 4
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, n*size)
	for i := range x {
		x[i] = rng.Float32()
	}
	a := call(t, ts, "POST", "/v2/models/rgb/infer", "application/json", inferBody(t, "", []int{n, 3, 16, 16}, "FP32", x))
	var got inferAnswer
	a.decode(t, &got)
	if a.status != http.StatusOK || len(got.Outputs) != 1 || len(got.Outputs[0].Data) != n*classes {
		t.Fatalf("status %d: %s", a.status, a.body)
	}

	c := call(t, ts, "POST", "/v1/classify", "image/png", cleanDigits(t)[0].png)
	if c.status != http.StatusBadRequest || !strings.Contains(string(c.body), "takes 3x16x16 images") || !strings.Contains(string(c.body), "POST /v2/models/rgb/infer") {
		t.Errorf("/v1/classify: %d %s", c.status, c.body)
	}

	dir := t.TempDir()
	in, out := filepath.Join(dir, "x.f32"), filepath.Join(dir, "y.f32")
	raw, _ := binary.Append(nil, binary.LittleEndian, x)
	if err := os.WriteFile(in, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	testtool.RunORT(t, []testtool.ORTJob{{Model: model, Input: in, N: n, C: 3, H: 16, W: 16, Out: out}})
	b, err := os.ReadFile(out)
	want := make([]float32, n*classes)
	if err != nil || len(b) != 4*len(want) {
		t.Fatalf("ONNX Runtime's output: %d bytes, %v", len(b), err)
	}
	binary.Decode(b, binary.LittleEndian, want)
	worst := 0.0
	for i, w := range want {
		worst = math.Max(worst, math.Abs(float64(got.Outputs[0].Data[i]-w)))
	}
	t.Logf("logits of %d colour tensors: largest difference from ONNX Runtime %.3g", n, worst)
	if worst > 1e-5 {
		t.Errorf("logits differ from ONNX Runtime's by %.3g", worst)
	}
}

// TestColourDigitModel: a colour model of digits (cnn28_rgb.onnx, 3x28x28,
// trained on MNIST as 3 equal channels) answers /v1/classify: each digit
// goes in grey as 3 equal channels, as lenetkit infer gives it, and the
// clean MNIST digits come back as their labels, given its
// Normalize(0.5, 0.5) in the file's metadata.
func TestColourDigitModel(t *testing.T) {
	pm, err := onnx.Read(testtool.Testdata(filepath.Join("onnx", "cnn28_rgb.onnx")))
	if err != nil {
		t.Fatal(err)
	}
	pm.MetadataProps = append(pm.MetadataProps, &onnx.StringStringEntryProto{Key: onnx.MetaPreprocess, Value: `{"pad":0,"mean":0.5,"std":0.5}`})
	model := filepath.Join(t.TempDir(), "rgb.onnx")
	if err := onnx.Write(model, pm); err != nil {
		t.Fatal(err)
	}
	_, ts := newTestServer(t, serve.Options{}, serve.ModelSpec{Name: "rgb", Path: model})
	for _, d := range cleanDigits(t)[:10] {
		a := call(t, ts, "POST", "/v1/classify?model=rgb", "image/png", d.png)
		var got struct {
			Results []struct {
				Top []struct{ Label string }
			}
		}
		a.decode(t, &got)
		if a.status != http.StatusOK || len(got.Results) != 1 || len(got.Results[0].Top) == 0 {
			t.Fatalf("%s: status %d: %s", d.file, a.status, a.body)
		}
		if l := got.Results[0].Top[0].Label; l != strconv.Itoa(d.label) {
			t.Errorf("%s: %s, want %d", d.file, l, d.label)
		}
	}
}
