package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/onnx"
)

// TestDoctor: a training export is refused with all four of its training
// nodes listed and exit 1; a graph that runs is described, exit 0; JSON
// says the same.
func TestDoctor(t *testing.T) {
	onnxDir := filepath.Join("..", "..", "testdata", "onnx")
	refused := run(t, "doctor", filepath.Join(onnxDir, "seed_train_op13.onnx"))
	if refused.code != 1 || strings.Count(refused.stdout, "\n  training ") != 4 || !strings.Contains(refused.stdout, "Runs:       no, 4 blockers:") {
		t.Errorf("doctor on a training export: exit %d\n%s%s\nwant exit 1 and four training blockers", refused.code, refused.stdout, refused.stderr)
	}
	ok := run(t, "doctor", filepath.Join(onnxDir, "seed_view.onnx"))
	if ok.code != 0 || !strings.Contains(ok.stdout, "Runs:       yes") || strings.Count(ok.stdout, "Fused:      /conv_layers") != 3 ||
		!strings.Contains(ok.stdout, `[batch, 1, 32, 32], NCHW: images of 1 x 32 x 32`) {
		t.Errorf("doctor on the seed's export: exit %d\n%s%s", ok.code, ok.stdout, ok.stderr)
	}
	rgb := filepath.Join(onnxDir, "cnn28_rgb.onnx")
	colour := run(t, "doctor", rgb)
	if colour.code != 0 || !strings.Contains(colour.stdout, "Grey:       each grey image goes in as 3 equal channels") {
		t.Errorf("doctor on a colour model of digits: exit %d\n%s%s", colour.code, colour.stdout, colour.stderr)
	}
	var copies struct {
		GreyCopies int `json:"grey_copies"`
	}
	if r := run(t, "doctor", rgb, "--format", "json"); json.Unmarshal([]byte(r.stdout), &copies) != nil || copies.GreyCopies != 3 {
		t.Errorf("doctor --format json on a colour model: %s, want grey_copies 3", r.stdout)
	}
	if strings.Contains(ok.stdout, "Grey:") {
		t.Errorf("doctor on a grey model speaks of channels:\n%s", ok.stdout)
	}
	if r := run(t, "doctor", fixedBatchCNN(t, 10)); r.code != 0 || !strings.Contains(r.stdout, "Batch:      the file fixes it at 10; lenetkit runs any number of images") {
		t.Errorf("doctor on a fixed batch of 10: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	js := run(t, "doctor", filepath.Join(onnxDir, "seed_train_op13.onnx"), "--format", "json")
	var d struct {
		Runs     bool
		Opset    int
		Blockers []struct{ Kind, Message string }
	}
	if err := json.Unmarshal([]byte(js.stdout), &d); err != nil || js.code != 1 || d.Runs || d.Opset != 13 || len(d.Blockers) != 4 {
		t.Errorf("doctor --format json: exit %d, %v, %+v", js.code, err, d)
	}
	renamed := filepath.Join(t.TempDir(), "model.onnx")
	if b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "lenet_trained.pth")); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(renamed, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := run(t, "doctor", renamed); r.code != 1 || !strings.Contains(r.stderr, "looks like a PyTorch file, not an ONNX one") {
		t.Errorf("doctor on a .pth named .onnx: exit %d\n%s", r.code, r.stderr)
	}
	if r := run(t, "doctor"); r.code != 2 {
		t.Errorf("doctor without a file: exit %d, want 2", r.code)
	}
}

// TestOutOfOrder: the seed's export with its nodes reversed, as
// keras2onnx 1.5.1 writes them out of order, evaluates as the original
// does; -v and doctor say the nodes were sorted.
func TestOutOfOrder(t *testing.T) {
	t.Parallel()
	// Sorting the nodes either gives the original's function or not: a
	// wrong order fails or changes every image's logits, so the first 256
	// test images show it as the 10,000 would, at a fortieth of the cost.
	data := firstTestImages(t, 256)
	src := filepath.Join("..", "..", "testdata", "onnx", "seed_view.onnx")
	m, err := onnx.Read(src)
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(m.Graph.Node)
	path := filepath.Join(t.TempDir(), "reversed.onnx")
	if err := onnx.Write(path, m); err != nil {
		t.Fatal(err)
	}
	type figures struct {
		Accuracy, Loss float64
		Correct        int
	}
	var want, got figures
	r := run(t, "eval", src, "--data", data, "--skip-checksum", "--format", "json")
	if err := json.Unmarshal([]byte(r.stdout), &want); err != nil || r.code != 0 {
		t.Fatalf("eval of the original: exit %d, %v\n%s", r.code, err, r.stderr)
	}
	r = run(t, "eval", path, "--data", data, "--skip-checksum", "--format", "json", "-v")
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != 0 || got != want {
		t.Errorf("eval of the reversed graph: exit %d, %v, %+v; want the original's %+v", r.code, err, got, want)
	}
	if !strings.Contains(r.stderr, "note: "+path+": its nodes are not in topological order") {
		t.Errorf("eval -v said %q, want a note that the nodes were sorted", r.stderr)
	}
	if d := run(t, "doctor", path); d.code != 0 || !strings.Contains(d.stdout, "Order:      the nodes are not in topological order") {
		t.Errorf("doctor: exit %d\n%s", d.code, d.stdout)
	}
}

// TestUnsupportedHint: an error the library marks onnx.ErrUnsupported ends
// with the doctor command to run on the file, on its one line.
func TestUnsupportedHint(t *testing.T) {
	path := filepath.Join("..", "..", "testdata", "onnx", "seed_train_op13.onnx")
	r := run(t, "eval", path)
	want := "; lenetkit doctor " + path + " lists everything that stops it at once\n"
	if r.code != 1 || !strings.HasSuffix(r.stderr, want) || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("exit %d, stderr %q; want one line ending %q", r.code, r.stderr, want)
	}
}

// TestDoctorQuantized: doctor lists a quantized file's tensors as inspect
// does, for a file that runs and one that does not (two integer inputs).
func TestDoctorQuantized(t *testing.T) {
	quant := filepath.Join("..", "..", "testdata", "quant")
	r := run(t, "doctor", filepath.Join(quant, "seed_qdq_tensor.onnx"))
	if r.code != 0 || !strings.Contains(r.stdout, "Runs:       yes") || !strings.Contains(r.stdout, "Quantized:  QDQ; 13 activations, 8 weights, 8 biases") ||
		!regexp.MustCompile(`\n  conv_layers\.4\.weight_quantized +weight +INT8 +0\.00\d+ +0\n`).MatchString(r.stdout) {
		t.Errorf("doctor seed_qdq_tensor.onnx: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = run(t, "doctor", filepath.Join(quant, "ops_matmulinteger.onnx"), "--format", "json")
	var d struct {
		Runs         bool
		Quantization struct {
			Form    string
			Tensors []struct {
				Tensor, Type string
				ZeroPointMin *int64 `json:"zero_point_min"`
				ZeroPointMax *int64 `json:"zero_point_max"`
			}
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || r.code != 1 || d.Runs || d.Quantization.Form != "QOperator" || len(d.Quantization.Tensors) != 5 {
		t.Fatalf("doctor ops_matmulinteger.onnx --format json: exit %d, %v, %+v", r.code, err, d)
	}
	if b := d.Quantization.Tensors[1]; b.Tensor != "B_int8" || b.Type != "INT8" || *b.ZeroPointMin != -128 || *b.ZeroPointMax != 12 {
		t.Errorf("B_int8 %+v", b)
	}
}

// TestDoctorRefusedModels: the five files reference/refused_models.py
// makes with onnx.helper are each refused with every one of their
// blockers listed, exit 1.
func TestDoctorRefusedModels(t *testing.T) {
	dir := t.TempDir()
	testtool.MustRunScript(t, testtool.Reference("refused_models.py"), dir)
	for name, kinds := range map[string][]string{
		"training":  {"operator", "training", "training"},
		"opset6":    {"opset", "operator", "operator"},
		"control":   {"operator", "control-flow", "dtype", "dynamic-shape"},
		"external":  {"external-data", "dtype", "values"},
		"recurrent": {"operator", "operator", "input"},
	} {
		r := run(t, "doctor", filepath.Join(dir, "model", name+".onnx"), "--format", "json")
		var d struct {
			Runs     bool
			Blockers []struct{ Kind string }
		}
		if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
			t.Fatalf("%s: %v\n%s%s", name, err, r.stdout, r.stderr)
		}
		var got []string
		for _, b := range d.Blockers {
			got = append(got, b.Kind)
		}
		if r.code != 1 || d.Runs || !slices.Equal(got, kinds) {
			t.Errorf("doctor %s.onnx: exit %d, blockers %q; want exit 1 and %q", name, r.code, got, kinds)
		}
	}
}
