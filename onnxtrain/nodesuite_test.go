package onnxtrain

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/owulveryck/onnx-go/backend/testbackend"
	_ "github.com/owulveryck/onnx-go/backend/testbackend/onnx" // registers the tests
	"gorgonia.org/tensor"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/onnx"
	"github.com/lenetkit/lenetkit/onnx/tensorfile"
)

// ONNX's own node tests run forward through the training graph: the
// reference outputs of the ONNX project, for every test whose operators
// are all this package's (families or constant evaluations) and whose
// values are float32, with integer inputs as constants. They are the
// ones onnx-go's module carries as Go (ONNX 1.5's), and those
// reference/onnx_node_tests.py writes with python3-onnx 1.12's generators
// (into a temporary folder, or LENETKIT_NODE_TESTS=DIR's, written before).

type nodeSuiteCase struct {
	title      string
	model      *onnx.Model
	ins, wants []*onnx.Tensor
}

func TestNodeSuiteForward(t *testing.T) {
	runSuiteForward(t, onnxGoCases(t), 100)
}

func TestONNXNodeTestsForward(t *testing.T) {
	dir := os.Getenv("LENETKIT_NODE_TESTS")
	if dir == "" {
		testtool.SkipShort(t) // python3-onnx takes seconds to write them
		py := testtool.RequirePython(t, "onnx", "numpy")
		dir = t.TempDir()
		if out, err := exec.Command(py, testtool.Reference("onnx_node_tests.py"), dir).CombinedOutput(); err != nil {
			t.Fatalf("onnx_node_tests.py: %v: %s", err, out)
		}
	}
	runSuiteForward(t, folderCases(t, filepath.Join(dir, "node")), 200)
}

// runSuiteForward runs the claimed cases, which must all pass or be
// refused by a family, and at least least of them pass.
func runSuiteForward(t *testing.T, cases []nodeSuiteCase, least int) {
	t.Helper()
	pass, refused, ops := 0, map[string][]string{}, map[string]int{}
	for _, c := range cases {
		if !claimed(c) {
			continue
		}
		why, ok := runNodeCase(t, c)
		switch {
		case ok:
			pass++
			ops[c.model.Graph.Nodes[0].OpType]++
		case why != "":
			refused[c.model.Graph.Nodes[0].OpType] = append(refused[c.model.Graph.Nodes[0].OpType], c.title+": "+why)
		}
	}
	n := 0
	for _, op := range slices.Sorted(maps.Keys(refused)) {
		for _, r := range refused[op] {
			t.Logf("refused %s", r)
			n++
		}
	}
	var per []string
	for _, op := range slices.Sorted(maps.Keys(ops)) {
		per = append(per, fmt.Sprintf("%s %d", op, ops[op]))
	}
	t.Logf("%d node tests pass forward (%s), %d refused by a family", pass, strings.Join(per, ", "), n)
	if pass < least {
		t.Errorf("only %d node tests ran", pass)
	}
}

// claimed: every operator a family or a constant evaluation of this
// package's, every value float32 but integer inputs.
func claimed(c nodeSuiteCase) bool {
	for _, n := range c.model.Graph.Nodes {
		if !supported(n.Domain, n.OpType) {
			return false
		}
	}
	if len(c.ins) != len(c.model.Graph.Inputs) || len(c.wants) != len(c.model.Graph.Outputs) {
		return false
	}
	for _, w := range c.wants {
		if w.DType != onnx.Float {
			return false
		}
	}
	for _, in := range c.ins {
		if in.DType != onnx.Float && in.DType != onnx.Int64 && in.DType != onnx.Int32 {
			return false
		}
	}
	return true
}

// runNodeCase builds the test's graph with its float inputs computed and
// compares its outputs; a family that refuses the graph (a constant it
// wants computed, a form it does not train) is retried with every float
// input but the first as a constant, then reported as refused. A wrong
// output fails the test.
func runNodeCase(t *testing.T, c nodeSuiteCase) (string, bool) {
	g := *c.model.Graph
	m := *c.model
	m.Graph = &g
	var firstErr error
	for attempt := range 2 {
		in, consts := map[string][]float32{}, map[string]*onnx.Tensor{}
		g.Inputs = nil
		for i, v := range c.model.Graph.Inputs {
			x := c.ins[i]
			if x.DType != onnx.Float || (attempt == 1 && i > 0) {
				consts[v.Name] = x
				continue
			}
			w := *v
			w.Dims = nil
			for _, d := range x.Shape {
				w.Dims = append(w.Dims, int64(d))
			}
			g.Inputs = append(g.Inputs, &w)
			in[v.Name] = slices.Clone(x.Float)
		}
		h, err := build(&m, in, consts, false)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		defer h.close()
		if err := h.run(); err != nil {
			t.Errorf("%s: %v", c.title, err)
			return "", false
		}
		for k, want := range c.wants {
			got := h.output(k)
			if len(got) != len(want.Float) {
				t.Errorf("%s: output %d has %d values, want %d", c.title, k, len(got), len(want.Float))
				return "", false
			}
			for j := range got {
				if !closeTo(got[j], want.Float[j], 1e-3, 1e-7) {
					t.Errorf("%s: output %d [%d] = %g, want %g", c.title, k, j, got[j], want.Float[j])
					return "", false
				}
			}
		}
		return "", true
	}
	return firstErr.Error(), false
}

// onnxGoCases are the node tests onnx-go's module carries.
func onnxGoCases(t *testing.T) []nodeSuiteCase {
	var out []nodeSuiteCase
	for _, ctor := range testbackend.GetAllRegisteredTests() {
		tc := ctor()
		pm, err := onnx.Unmarshal(tc.ModelB, tc.Title)
		if err != nil {
			continue
		}
		m, err := onnx.Decode(pm)
		if err != nil {
			continue
		}
		c := nodeSuiteCase{title: tc.Title, model: m}
		ok := true
		for k, ts := range [][]tensor.Tensor{tc.Input, tc.ExpectedOutput} {
			for i, x := range ts {
				v, err := fromGorgoniaTensor(x)
				if err != nil {
					ok = false
					break
				}
				// onnx-go wrote some int64 inputs (Slice's starts) as float32.
				if k == 0 && i < len(m.Graph.Inputs) && m.Graph.Inputs[i].DType == onnx.Int64 && v.DType == onnx.Float {
					v = &onnx.Tensor{DType: onnx.Int64, Shape: v.Shape, Int: v.Ints()}
				}
				if k == 0 {
					c.ins = append(c.ins, v)
				} else {
					c.wants = append(c.wants, v)
				}
			}
		}
		if ok {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b nodeSuiteCase) int { return strings.Compare(a.title, b.title) })
	return out
}

func fromGorgoniaTensor(x tensor.Tensor) (*onnx.Tensor, error) {
	t := &onnx.Tensor{Shape: slices.Clone([]int(x.Shape()))}
	if x.Shape().IsScalar() {
		t.Shape = nil
	}
	switch d := x.Data().(type) {
	case []float32:
		t.DType, t.Float = onnx.Float, d
	case float32:
		t.DType, t.Float = onnx.Float, []float32{d}
	case []int64:
		t.DType, t.Int = onnx.Int64, d
	case int64:
		t.DType, t.Int = onnx.Int64, []int64{d}
	default:
		return nil, fmt.Errorf("tensor of %v", x.Dtype())
	}
	return t, nil
}

// folderCases reads node/test_*/ as ONNX lays its tests out.
func folderCases(t *testing.T, root string) []nodeSuiteCase {
	ents, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var out []nodeSuiteCase
	for _, e := range ents {
		dir := filepath.Join(root, e.Name())
		m, err := onnx.Load(filepath.Join(dir, "model.onnx"))
		if err != nil {
			continue
		}
		c := nodeSuiteCase{title: e.Name(), model: m}
		for _, kind := range []string{"input", "output"} {
			for i := 0; ; i++ {
				x, err := tensorfile.Read(filepath.Join(dir, "test_data_set_0", kind+"_"+strconv.Itoa(i)+".pb"))
				if err != nil {
					break
				}
				if kind == "input" {
					c.ins = append(c.ins, x)
				} else {
					c.wants = append(c.wants, x)
				}
			}
		}
		out = append(out, c)
	}
	return out
}
