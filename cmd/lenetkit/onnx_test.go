package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
)

// zooModel is one graph of testdata/onnx/expected.json: an ONNX file made
// by torch.onnx.export (reference/onnx_zoo.py), and ONNX Runtime's figures
// for it on all 10,000 test images.
type zooModel struct {
	File       string `json:"file"`
	Preprocess struct {
		Mean float64 `json:"mean"`
		Std  float64 `json:"std"`
	} `json:"preprocess"`
	Output   string  `json:"output"`
	Accuracy float64 `json:"accuracy"`
	Loss     float64 `json:"loss"`
	Images   int     `json:"images"`
}

func zoo(t *testing.T) (map[string]zooModel, []string) {
	t.Helper()
	b, err := os.ReadFile(testtool.Testdata("onnx/expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var z struct {
		Models       map[string]zooModel `json:"models"`
		TrainingMode []string            `json:"training_mode"`
	}
	if err := json.Unmarshal(b, &z); err != nil {
		t.Fatal(err)
	}
	if len(z.Models) < 5 || len(z.TrainingMode) < 3 {
		t.Fatalf("expected.json has %d models and %d training graphs", len(z.Models), len(z.TrainingMode))
	}
	return z.Models, z.TrainingMode
}

type evalJSON struct {
	Backend  string  `json:"backend"`
	Accuracy float64 `json:"accuracy"`
	Loss     float64 `json:"loss"`
	Images   int     `json:"images"`
}

func evalFile(t *testing.T, args ...string) evalJSON {
	t.Helper()
	r := run(t, append([]string{"eval", "--format", "json"}, args...)...)
	if r.code != 0 {
		t.Fatalf("eval %v: exit %d\n%s", args, r.code, r.stderr)
	}
	var e evalJSON
	if err := json.Unmarshal([]byte(r.stdout), &e); err != nil {
		t.Fatalf("eval printed %q: %v", r.stdout, err)
	}
	return e
}

// TestEvalForeignGraphs: graphs other people made (a view/reshape flatten,
// a Softmax tail, LeCun's LeNet-5, a 28x28 CNN used with Normalize(0.5,
// 0.5)) give ONNX Runtime's accuracy to the printed digit and its loss
// within 1e-4, through the default backend.
func TestEvalForeignGraphs(t *testing.T) {
	data := realData(t)
	models, _ := zoo(t)
	for name, m := range models {
		t.Run(name, func(t *testing.T) {
			args := []string{testtool.Testdata("onnx/" + m.File), "--data", data, "--protocol", "full"}
			if m.Preprocess.Std != 1 || m.Preprocess.Mean != 0 {
				args = append(args, "--mean", fmt.Sprint(m.Preprocess.Mean), "--std", fmt.Sprint(m.Preprocess.Std))
			}
			e := evalFile(t, args...)
			if e.Backend != "lenetkit" {
				t.Errorf("backend %q, want lenetkit's", e.Backend)
			}
			got, want := fmt.Sprintf("%.2f", e.Accuracy), fmt.Sprintf("%.2f", m.Accuracy)
			if got != want || e.Images != m.Images || math.Abs(e.Loss-m.Loss) > 1e-4 {
				t.Errorf("%d images, accuracy %s%%, loss %.6f; ONNX Runtime %d, %s%%, %.6f", e.Images, got, e.Loss, m.Images, want, m.Loss)
			}
		})
	}
}

// TestTrainingGraphsRefused: torch's training-mode exports are refused in
// one line, exit 1.
func TestTrainingGraphsRefused(t *testing.T) {
	data := realData(t)
	_, training := zoo(t)
	for _, f := range training {
		t.Run(f, func(t *testing.T) {
			r := run(t, "eval", testtool.Testdata("onnx/"+f), "--data", data)
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if r.code != 1 || len(lines) != 1 || !strings.Contains(lines[0], "training graph") || !strings.Contains(lines[0], f) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and one line naming %s as a training graph", r.code, r.stderr, f)
			}
		})
	}
}

// TestOwnAndOptimisedExports: lenetkit's own ONNX export at opsets 9 to 17,
// and the graph ONNX Runtime writes after its basic optimisations, print
// PyTorch's figures for the same weights.
func TestOwnAndOptimisedExports(t *testing.T) {
	skipShort(t)
	data := realData(t)
	figs := trainedFigures(t)
	dir := t.TempDir()
	var files []string
	for opset := 9; opset <= 17; opset++ {
		f := filepath.Join(dir, fmt.Sprintf("lenetkit-%d.onnx", opset))
		if r := run(t, "convert", trainedPTH, f, "--opset", fmt.Sprint(opset)); r.code != 0 {
			t.Fatalf("convert: %s", r.stderr)
		}
		files = append(files, f)
	}
	node := testtool.RequireORT(t)
	optimised := filepath.Join(dir, "ort-basic.onnx")
	cmd := exec.Command(node, testtool.Reference("ort_optimize.js"), files[4], optimised, "basic")
	cmd.Dir = testtool.Reference("")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ort_optimize.js: %v\n%s", err, b)
	}
	files = append(files, optimised)
	for i, f := range files {
		protocol := []string{"seed", "full"}[i%2]
		r := run(t, "eval", f, "--data", data, "--protocol", protocol)
		if r.code != 0 {
			t.Fatalf("%s: exit %d\n%s", filepath.Base(f), r.code, r.stderr)
		}
		wantEvalText(t, r.stdout, figs[protocol], protocol)
	}
}
