package onnx

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/lenetkit/lenetkit/convert"
	"github.com/lenetkit/lenetkit/internal/mnisttest"
	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/mnist"
)

// This file runs the real peers lenetkit's ONNX files are checked against:
// PyTorch and ONNX for Python (Debian's), ONNX Runtime for Node.js (npm
// onnxruntime-node, installed in reference/ by `npm ci --ignore-scripts`).

// run runs a reference command, failing the test with its output.
func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	// Keep the reference scripts from leaving __pycache__ in the tree.
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok {
			msg += ": " + strings.TrimSpace(string(ee.Stderr))
		}
		t.Fatalf("%s %s: %s\n%s", filepath.Base(name), strings.Join(args, " "), msg, out)
	}
	return out
}

// checkResult is what reference/onnx_check.py prints.
type checkResult struct {
	OK              bool               `json:"ok"`
	Error           string             `json:"error"`
	IRVersion       int64              `json:"ir_version"`
	Opsets          map[string]int64   `json:"opsets"`
	Producer        string             `json:"producer"`
	ProducerVersion string             `json:"producer_version"`
	Inputs          map[string][]any   `json:"inputs"`
	Outputs         map[string][]any   `json:"outputs"`
	Ops             []string           `json:"ops"`
	Initializers    map[string][]int64 `json:"initializers"`
	Metadata        map[string]string  `json:"metadata"`
}

// onnxCheck runs onnx.checker.check_model(full_check=True) on path.
func onnxCheck(t *testing.T, path string) checkResult {
	t.Helper()
	testtool.RequirePython(t, "onnx")
	out, _ := testtool.RunScript(t, nil, testtool.Reference("onnx_check.py"), path) // exit status 1 means not ok; the JSON says why
	var r checkResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("onnx_check.py %s: %v: %q", path, err, out)
	}
	return r
}

// writeFloats writes v as raw little-endian float32 to a new file in dir.
func writeFloats(t *testing.T, dir, name string, v []float32) string {
	t.Helper()
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func readFloats(t *testing.T, path string, n int) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 4*n {
		t.Fatalf("%s: %d bytes, want %d floats", path, len(b), n)
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// ortLogits runs model in ONNX Runtime on the n images in x, batch at a time.
func ortLogits(t *testing.T, model string, x []float32, n, batch int) []float32 {
	t.Helper()
	node := testtool.RequireORT(t)
	dir := t.TempDir()
	in := writeFloats(t, dir, "x.f32", x)
	out := filepath.Join(dir, "logits.f32")
	run(t, node, testtool.Reference("ort_logits.js"), model, in, strconv.Itoa(n), out, strconv.Itoa(batch))
	return readFloats(t, out, n*lenet.Classes)
}

// torchLogits runs the PyTorch LeNet with the weights of pth on the n
// images in x (reference/pth_logits.py, eval mode).
func torchLogits(t *testing.T, pth string, x []float32, n int) []float32 {
	t.Helper()
	testtool.RequirePython(t, "torch")
	dir := t.TempDir()
	in := writeFloats(t, dir, "x.f32", x)
	out := filepath.Join(dir, "logits.f32")
	testtool.MustRunScript(t, testtool.Reference("pth_logits.py"), pth, in, strconv.Itoa(n), out)
	return readFloats(t, out, n*lenet.Classes)
}

// testImages returns the first n MNIST test images as the model's input.
func testImages(t *testing.T, n int) []float32 {
	t.Helper()
	set := mnisttest.Set(t, "test")
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	x := make([]float32, n*mnist.PixelCount)
	if err := set.Fill(idx, x, nil); err != nil {
		t.Fatal(err)
	}
	return x
}

// trainedPTH is the PyTorch-trained fixture all end-to-end tests use.
var trainedPTH = testtool.Testdata("lenet_trained.pth")

func trainedStateDict(t *testing.T) lenet.StateDict {
	t.Helper()
	sd, err := convert.ReadPTHStateDict(trainedPTH)
	if err != nil {
		t.Fatal(err)
	}
	if err := lenet.Check(sd); err != nil {
		t.Fatal(err)
	}
	return sd
}

// torchExport is one way of calling torch.onnx.export in
// reference/onnx_export.py.
type torchExport struct {
	name  string
	flags []string
}

var torchExportKinds = []torchExport{
	// input "input", output "logits", symbolic batch, constant folding
	{"named", nil},
	// what a bare torch.onnx.export(model, x, path) writes, without
	// constant folding, the weights listed as graph inputs too
	{"plain", []string{"--plain", "--no-constant-folding", "--initializers-as-inputs"}},
}

var torchFound struct {
	sync.Mutex
	py string
}

// requireTorch is testtool.RequirePython(t, "torch", "onnx"), which takes a
// second, run once per test binary once it succeeds.
func requireTorch(t *testing.T) string {
	t.Helper()
	torchFound.Lock()
	defer torchFound.Unlock()
	if torchFound.py == "" {
		torchFound.py = testtool.RequirePython(t, "torch", "onnx")
	}
	return torchFound.py
}

var torchExports struct {
	once sync.Once
	dir  string
	err  string
}

// torchExportPath returns the torch.onnx.export of testdata/lenet_trained.pth
// at opset in the given kind, py being testtool.RequirePython(t, "torch",
// "onnx"). All of them are made once, in one Python process per kind, into
// a directory TestMain removes.
func torchExportPath(t *testing.T, py string, kind torchExport, opset int) string {
	t.Helper()
	torchExports.once.Do(func() {
		dir, err := os.MkdirTemp("", "lenetkit-onnx-")
		if err != nil {
			torchExports.err = err.Error()
			return
		}
		torchExports.dir = dir
		var opsets []string
		for o := MinOpset; o <= MaxOpset; o++ {
			opsets = append(opsets, strconv.Itoa(o))
		}
		for _, k := range torchExportKinds {
			args := append([]string{testtool.Reference("onnx_export.py"), trainedPTH,
				filepath.Join(dir, k.name+"-{opset}.onnx"), "--opset", strings.Join(opsets, ",")}, k.flags...)
			if _, err := testtool.RunScript(t, nil, args[0], args[1:]...); err != nil {
				torchExports.err = err.Error()
				return
			}
		}
	})
	if torchExports.err != "" {
		t.Fatal(torchExports.err)
	}
	return filepath.Join(torchExports.dir, kind.name+"-"+strconv.Itoa(opset)+".onnx")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if torchExports.dir != "" {
		os.RemoveAll(torchExports.dir)
	}
	os.Exit(code)
}

// maxDiff is the largest absolute difference between a and b.
func maxDiff(t *testing.T, a, b []float32) float64 {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d values vs %d", len(a), len(b))
	}
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

// TestEncodeOldFilesChecked: a file of IR version 3 (CNTK's mnist-8, and
// opsets 1 and 6 read in opset 7's forms), decoded and encoded again as
// train writes a graph back, passes ONNX's checker, which requires such
// files to list every initializer among the graph's inputs, and decodes
// to the same inputs.
func TestEncodeOldFilesChecked(t *testing.T) {
	for _, name := range []string{"cntk_mnist8", "cntk_mnist1", "caffe2_opset6"} {
		t.Run(name, func(t *testing.T) {
			pm, err := Read(testtool.Testdata("onnx/producers/" + name + ".onnx"))
			if err != nil {
				t.Fatal(err)
			}
			m, err := Decode(pm)
			if err != nil {
				t.Fatal(err)
			}
			out, err := Encode(m)
			if err != nil {
				t.Fatal(err)
			}
			if out.IrVersion != 3 || len(out.Graph.Input) != 1+len(out.Graph.Initializer) {
				t.Errorf("IR version %d, %d inputs for %d initializers", out.IrVersion, len(out.Graph.Input), len(out.Graph.Initializer))
			}
			again, err := Decode(out)
			if err != nil {
				t.Fatal(err)
			}
			if len(again.Graph.Inputs) != 1 || again.Graph.Inputs[0].Name != m.Graph.Inputs[0].Name {
				t.Fatalf("decoded again: inputs %v", again.Graph.Inputs)
			}
			path := filepath.Join(t.TempDir(), name+".onnx")
			b, err := Marshal(out)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			if r := onnxCheck(t, path); !r.OK {
				t.Errorf("onnx.checker: %s", r.Error)
			}
		})
	}
}
