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
	"github.com/lenetkit/lenetkit/lenet"
)

// zooModel is one graph of testdata/onnx/expected.json: an ONNX file made
// by torch.onnx.export (reference/onnx_zoo.py), and ONNX Runtime's figures
// for it on all 10,000 test images.
type zooModel struct {
	File       string `json:"file"`
	Preprocess struct {
		Mean float64 `json:"mean"`
		Std  float64 `json:"std"`
		// Resize is the side torchvision's Resize made MNIST's digits,
		// which --prep resize does; 0 for none.
		Resize int `json:"resize"`
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
// a Softmax tail, LeCun's LeNet-5 on padded and on resized digits, a 28x28
// CNN used with Normalize(0.5, 0.5)) give ONNX Runtime's accuracy to the printed digit and its loss
// within 1e-4, through the default backend.
//
// Under -short, seed_reshape and seed_softmax, which hold the weights of
// testdata/lenet_trained.pth as seed_view does (reference/onnx_zoo.py),
// are measured on the first 256 test images against the figures of
// PyTorch's logits for them (testdata/forward.pth): a graph read wrongly
// changes every image's output, so 256 images show it as 10,000 would,
// and two passes over the test set are spared. seed_view, LeNet-5 and the
// 28x28 CNN are measured on all of it.
func TestEvalForeignGraphs(t *testing.T) {
	t.Parallel()
	data := realData(t)
	models, _ := zoo(t)
	var few string
	var fewWant torchSubset
	if testing.Short() {
		fewWant = forwardFigures(t)
		few = firstTestImages(t, fewWant.Images)
	}
	for name, m := range models {
		t.Run(name, func(t *testing.T) {
			args := []string{testtool.Testdata("onnx/" + m.File), "--data", data, "--protocol", "full"}
			want := torchSubset{Images: m.Images, Accuracy: m.Accuracy, Loss: m.Loss}
			if few != "" && (name == "seed_reshape" || name == "seed_softmax") {
				args = []string{testtool.Testdata("onnx/" + m.File), "--data", few, "--skip-checksum", "--protocol", "full"}
				want = fewWant
			}
			if m.Preprocess.Std != 1 || m.Preprocess.Mean != 0 {
				args = append(args, "--mean", fmt.Sprint(m.Preprocess.Mean), "--std", fmt.Sprint(m.Preprocess.Std))
			}
			if m.Preprocess.Resize != 0 {
				args = append(args, "--prep", "resize")
			}
			e := evalFile(t, args...)
			if e.Backend != "lenetkit" {
				t.Errorf("backend %q, want lenetkit's", e.Backend)
			}
			got, wantAcc := fmt.Sprintf("%.2f", e.Accuracy), fmt.Sprintf("%.2f", want.Accuracy)
			if got != wantAcc || e.Images != want.Images || math.Abs(e.Loss-want.Loss) > 1e-4 {
				t.Errorf("%d images, accuracy %s%%, loss %.6f; want %d, %s%%, %.6f", e.Images, got, e.Loss, want.Images, wantAcc, want.Loss)
			}
		})
	}
}

// A torchSubset is a model's figures on some test images.
type torchSubset struct {
	Images         int
	Accuracy, Loss float64
}

// forwardFigures are PyTorch's figures for testdata/lenet_trained.pth on
// the test images of testdata/forward.pth (the first 256), made from its
// logits as reference/onnx_zoo.py makes ONNX Runtime's: accuracy in
// percent, mean cross-entropy in float64.
func forwardFigures(t *testing.T) torchSubset {
	t.Helper()
	logits, labels := forwardFixture(t)
	f := torchSubset{Images: len(labels)}
	correct := 0
	for i, y := range labels {
		p := softmax(logits[i*lenet.Classes : (i+1)*lenet.Classes])
		best := 0
		for c := range p {
			if p[c] > p[best] {
				best = c
			}
		}
		if int64(best) == y {
			correct++
		}
		f.Loss -= math.Log(p[y])
	}
	f.Accuracy = 100 * float64(correct) / float64(f.Images)
	f.Loss /= float64(f.Images)
	return f
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
	t.Parallel()
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
