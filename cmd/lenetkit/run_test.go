package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/onnx"
	"github.com/lenetkit/lenetkit/onnx/tensorfile"
)

// runFixture writes a graph of two inputs, sum = Add(x, y) and relu =
// Relu(sum), both outputs, with a data set in ONNX's layout: x as a .pb,
// y as a .npy, the expected outputs as .pb. It returns the model's path
// and the data set's folder.
func runFixture(t *testing.T) (model, dataset string) {
	t.Helper()
	dir := t.TempDir()
	f := onnx.Float
	m := &onnx.Model{IRVersion: 7, Opset: 13, Producer: "lenetkit-test", Graph: &onnx.Graph{
		Name: "add_relu",
		Nodes: []*onnx.Node{
			{Name: "add", OpType: "Add", Inputs: []string{"x", "y"}, Outputs: []string{"sum"}},
			{Name: "relu", OpType: "Relu", Inputs: []string{"sum"}, Outputs: []string{"relu"}, Index: 1},
		},
		Initializers: map[string]*onnx.Tensor{},
		Inputs:       []*onnx.Value{{Name: "x", DType: f, Dims: []int64{2, 3}}, {Name: "y", DType: f, Dims: []int64{2, 3}}},
		Outputs:      []*onnx.Value{{Name: "sum", DType: f, Dims: []int64{2, 3}}, {Name: "relu", DType: f, Dims: []int64{2, 3}}},
		ValueInfo:    map[string]*onnx.Value{},
	}}
	pm, err := onnx.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	model = filepath.Join(dir, "model.onnx")
	if err := onnx.Write(model, pm); err != nil {
		t.Fatal(err)
	}
	dataset = filepath.Join(dir, "test_data_set_0")
	if err := os.Mkdir(dataset, 0o755); err != nil {
		t.Fatal(err)
	}
	x := []float32{1, -2, 3, -4, 5, -6}
	y := []float32{0.5, 0.5, 0.5, 0.5, 0.5, 10}
	sum, relu := make([]float32, 6), make([]float32, 6)
	for i := range x {
		sum[i] = x[i] + y[i]
		relu[i] = max(sum[i], 0)
	}
	write := func(name string, tensor string, v []float32) {
		t.Helper()
		err := tensorfile.Write(filepath.Join(dataset, name), &onnx.Tensor{Name: tensor, DType: f, Shape: []int{2, 3}, Float: v})
		if err != nil {
			t.Fatal(err)
		}
	}
	write("input_0.pb", "x", x)
	write("input_1.npy", "y", y)
	write("output_0.pb", "sum", sum)
	write("output_1.pb", "relu", relu)
	return model, dataset
}

func TestRunExpect(t *testing.T) {
	model, dataset := runFixture(t)
	r := run(t, "run", model, dataset, "--expect")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if strings.Count(r.stdout, "matches") != 2 || !strings.Contains(r.stdout, "output 1 relu [2, 3]") {
		t.Errorf("stdout:\n%s", r.stdout)
	}

	// Without --out or --expect, the first values.
	r = run(t, "run", model, dataset)
	if r.code != 0 || !strings.Contains(r.stdout, "output 1 relu [2, 3]: 1.5 0 3.5 0 5.5 4") {
		t.Errorf("exit %d, stdout:\n%s", r.code, r.stdout)
	}

	r = run(t, "run", model, dataset, "--expect", "--format", "json")
	var doc struct {
		OK      bool `json:"ok"`
		Outputs []struct {
			Name  string `json:"name"`
			Match *bool  `json:"match"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || r.code != 0 {
		t.Fatalf("exit %d, %v:\n%s", r.code, err, r.stdout)
	}
	if !doc.OK || len(doc.Outputs) != 2 || doc.Outputs[1].Name != "relu" || doc.Outputs[1].Match == nil || !*doc.Outputs[1].Match {
		t.Errorf("json: %+v", doc)
	}
}

func TestRunOut(t *testing.T) {
	model, dataset := runFixture(t)
	for _, format := range []string{"pb", "npy"} {
		out := filepath.Join(t.TempDir(), "new", "outs")
		r := run(t, "run", model, dataset, "--out", out, "--out-format", format, "-q")
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		for i, name := range []string{"sum", "relu"} {
			got, err := tensorfile.Read(filepath.Join(out, "output_"+string(rune('0'+i))+"."+format))
			if err != nil {
				t.Fatal(err)
			}
			want, err := tensorfile.Read(filepath.Join(dataset, "output_"+string(rune('0'+i))+".pb"))
			if err != nil {
				t.Fatal(err)
			}
			if err := tensorfile.Compare(got, want, 0, 0); err != nil {
				t.Errorf("%s %s: %v", format, name, err)
			}
			if format == "pb" && got.Name != name {
				t.Errorf("output %d named %q, want %q", i, got.Name, name)
			}
		}
		if ents, _ := os.ReadDir(out); len(ents) != 2 {
			t.Errorf("%s: %d files in --out, want 2", format, len(ents))
		}
	}
}

func TestRunMismatch(t *testing.T) {
	model, dataset := runFixture(t)
	// relu[1, 2] is 4; say 4.01, past 1e-3 of it.
	relu := []float32{1.5, 0, 3.5, 0, 5.5, 4.01}
	if err := tensorfile.Write(filepath.Join(dataset, "output_1.pb"), &onnx.Tensor{Name: "relu", DType: onnx.Float, Shape: []int{2, 3}, Float: relu}); err != nil {
		t.Fatal(err)
	}
	r := run(t, "run", model, dataset, "--expect")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1; stderr %q", r.code, r.stderr)
	}
	for _, w := range []string{"output 1 (relu)", "1 of 6 elements differ", "worst at [1, 2]: got 4, want 4.01"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr %q lacks %q", r.stderr, w)
		}
	}
	if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("stderr of more than one line: %q", r.stderr)
	}
	if !strings.Contains(r.stdout, "MISMATCH") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
	// Within the tolerance, it matches.
	relu[5] = 4.003
	tensorfile.Write(filepath.Join(dataset, "output_1.pb"), &onnx.Tensor{Name: "relu", DType: onnx.Float, Shape: []int{2, 3}, Float: relu})
	if r := run(t, "run", model, dataset, "--expect"); r.code != 0 {
		t.Errorf("4 for 4.003: exit %d, %s", r.code, r.stderr)
	}
	relu[5] = 4.01
	tensorfile.Write(filepath.Join(dataset, "output_1.pb"), &onnx.Tensor{Name: "relu", DType: onnx.Float, Shape: []int{2, 3}, Float: relu})
	r = run(t, "run", model, dataset, "--expect", "--format", "json")
	var doc struct {
		OK      bool `json:"ok"`
		Outputs []struct {
			Mismatch *struct {
				Index []int   `json:"index"`
				Want  float64 `json:"want"`
			} `json:"mismatch"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || r.code != 1 {
		t.Fatalf("exit %d, %v:\n%s", r.code, err, r.stdout)
	}
	if doc.OK || doc.Outputs[1].Mismatch == nil || doc.Outputs[1].Mismatch.Index[1] != 2 {
		t.Errorf("json: %+v", doc)
	}
}

func TestRunErrors(t *testing.T) {
	model, dataset := runFixture(t)
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	one := filepath.Join(dir, "one")
	os.Mkdir(one, 0o755)
	tensorfile.Write(filepath.Join(one, "input_0.pb"), &onnx.Tensor{DType: onnx.Float, Shape: []int{2, 3}, Float: make([]float32, 6)})
	ints := filepath.Join(dir, "ints")
	os.Mkdir(ints, 0o755)
	tensorfile.Write(filepath.Join(ints, "input_0.pb"), &onnx.Tensor{DType: onnx.Int64, Shape: []int{2, 3}, Int: make([]int64, 6)})
	tensorfile.Write(filepath.Join(ints, "input_1.pb"), &onnx.Tensor{DType: onnx.Float, Shape: []int{2, 3}, Float: make([]float32, 6)})
	gap := filepath.Join(dir, "gap")
	os.Mkdir(gap, 0o755)
	tensorfile.Write(filepath.Join(gap, "input_0.pb"), &onnx.Tensor{DType: onnx.Float, Shape: []int{2, 3}, Float: make([]float32, 6)})
	tensorfile.Write(filepath.Join(gap, "input_2.pb"), &onnx.Tensor{DType: onnx.Float, Shape: []int{2, 3}, Float: make([]float32, 6)})
	// Shapes that do not broadcast: the plan refuses them, and --out is
	// left as it was.
	bad := filepath.Join(dir, "bad")
	os.Mkdir(bad, 0o755)
	tensorfile.Write(filepath.Join(bad, "input_0.pb"), &onnx.Tensor{DType: onnx.Float, Shape: []int{2, 3}, Float: make([]float32, 6)})
	tensorfile.Write(filepath.Join(bad, "input_1.pb"), &onnx.Tensor{DType: onnx.Float, Shape: []int{4}, Float: make([]float32, 4)})
	fortran := filepath.Join(dir, "fortran")
	os.Mkdir(fortran, 0o755)
	header := "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }\n"
	npy := append([]byte("\x93NUMPY\x01\x00"), byte(len(header)), 0)
	os.WriteFile(filepath.Join(fortran, "input_0.npy"), append(append(npy, header...), make([]byte, 24)...), 0o644)
	tensorfile.Write(filepath.Join(fortran, "input_1.pb"), &onnx.Tensor{DType: onnx.Float, Shape: []int{2, 3}, Float: make([]float32, 6)})
	out := filepath.Join(dir, "out")

	for _, c := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"one argument", []string{model}, 2, "run takes a MODEL and a DATASET_DIR, got 1 argument"},
		{"bad format", []string{model, dataset, "--format", "yaml"}, 2, `--format "yaml"`},
		{"bad out-format", []string{model, dataset, "--out", out, "--out-format", "xml"}, 2, `--out-format "xml": want pb or npy`},
		{"out-format without out", []string{model, dataset, "--out-format", "npy"}, 2, "--out-format needs --out"},
		{"out is the dataset", []string{model, dataset, "--out", dataset}, 2, "is DATASET_DIR"},
		{"dataset is a file", []string{model, model}, 2, "is not a folder"},
		{"no inputs", []string{model, empty}, 1, "has no input_0.pb or input_0.npy"},
		{"too few inputs", []string{model, one}, 1, "has 1 input file, but"},
		{"int64 input for a float one", []string{model, ints}, 1, `is INT64, but ` + model + `'s input "x" is FLOAT`},
		{"a gap", []string{model, gap}, 1, "no input_1.pb or .npy"},
		{"no expected outputs", []string{model, one, "--expect"}, 1, "--expect: "},
		{"shapes that do not broadcast", []string{model, bad, "--out", out}, 1, "onnx: "},
		{"fortran order", []string{model, fortran}, 1, "Fortran order"},
		{"missing model", []string{filepath.Join(dir, "absent.onnx"), dataset}, 1, "absent.onnx"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := run(t, append([]string{"run"}, c.args...)...)
			if r.code != c.code || !strings.Contains(r.stderr, c.msg) {
				t.Errorf("exit %d, stderr %q; want exit %d saying %q", r.code, r.stderr, c.code, c.msg)
			}
			if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || r.stdout != "" {
				t.Errorf("want one line on stderr and nothing on stdout; stdout %q, stderr %q", r.stdout, r.stderr)
			}
		})
	}
	if ents, err := os.ReadDir(out); err == nil && len(ents) > 0 {
		t.Errorf("a failed run wrote %d files to --out", len(ents))
	}
}

// TestRunNodeTest runs ONNX's own node tests, as
// reference/onnx_node_tests.py writes them: Relu's, and Reshape's, whose
// shape is an int64 input file that run folds as a constant.
func TestRunNodeTest(t *testing.T) {
	t.Parallel()
	py := testtool.RequirePython(t, "onnx", "numpy")
	dir := t.TempDir()
	for _, op := range []string{"Relu", "Reshape"} {
		if out, err := exec.Command(py, testtool.Reference("onnx_node_tests.py"), dir, "--op-type", op).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	for _, name := range []string{"test_relu", "test_reshape_reordered_all_dims"} {
		test := filepath.Join(dir, "node", name)
		r := run(t, "run", filepath.Join(test, "model.onnx"), filepath.Join(test, "test_data_set_0"), "--expect")
		if r.code != 0 || !strings.Contains(r.stdout, "matches") {
			t.Errorf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", name, r.code, r.stdout, r.stderr)
		}
	}
}
