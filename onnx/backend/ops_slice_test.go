package backend

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/onnx"
)

// iota32 is 0, 1, ... n-1.
func iota32(n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(i)
	}
	return x
}

// runOne classifies one image through a plan and returns its outputs.
func runOne(t *testing.T, p *Plan, x []float32) []float32 {
	t.Helper()
	y := make([]float32, p.Outputs)
	if err := p.Logits(y, x, 1); err != nil {
		t.Fatal(err)
	}
	return y
}

func TestSliceRunTime(t *testing.T) {
	// x [N, 2, 3, 4]: channel 1, rows reversed, every other column from 1.
	for _, opset := range []int64{9, 13} {
		b := &builder{rng: rand.New(rand.NewPCG(1, 2))}
		if opset < 10 {
			b.node("Slice", []string{"x"}, "y", ints("starts", 1, -1, 1), ints("ends", 2, -100, 4), ints("axes", 1, 2, 3))
			// opset 9 has no steps: reverse nothing, take rows 2.. instead.
			b.nodes[0].Attribute[0] = ints("starts", 1, 2, 1)
			b.nodes[0].Attribute[1] = ints("ends", 2, 3, 4)
		} else {
			b.node("Slice", []string{"x", b.ints(1, -1, 1), b.ints(2, -100, 1<<62), b.ints(1, 2, -1), b.ints(1, -1, 2)}, "y")
		}
		p := mustOpen(t, graphModel(b, opset, tensorInput("x", -1, 2, 3, 4)), Options{})
		y := runOne(t, p, iota32(24))
		want := []float32{21, 23, 17, 19, 13, 15}
		if opset < 10 {
			want = []float32{21, 22, 23}
		}
		if !slices.Equal(y, want) {
			t.Errorf("opset %d: got %v, want %v", opset, y, want)
		}
	}
}

func TestSplitRunTime(t *testing.T) {
	b := &builder{rng: rand.New(rand.NewPCG(1, 2))}
	b.nodes = append(b.nodes, &onnx.NodeProto{OpType: "Split", Input: []string{"x", b.ints(1, 3)}, Output: []string{"a", "c"},
		Attribute: []*onnx.AttributeProto{intAttr("axis", -1)}})
	b.node("Mul", []string{"c", "c"}, "c2")
	b.node("Add", []string{"a", "c2"}, "y") // a broadcast along the rows
	p := mustOpen(t, graphModel(b, 13, tensorInput("x", -1, 1, 2, 4)), Options{})
	y := runOne(t, p, iota32(8))
	// a = [0], [4]; c2 = squares of 1..3 and 5..7.
	want := []float32{1, 4, 9, 29, 40, 53}
	if !slices.Equal(y, want) {
		t.Errorf("got %v, want %v", y, want)
	}
}

// Shape arithmetic as tf2onnx writes it: Shape -> Slice -> Concat ->
// Reshape, folded at load.
func TestSliceFoldsShapes(t *testing.T) {
	b := &builder{rng: rand.New(rand.NewPCG(1, 2))}
	b.node("Shape", []string{"x"}, "s")
	b.node("Slice", []string{"s", b.ints(0), b.ints(1), b.ints(0)}, "n")
	b.node("Concat", []string{"n", b.ints(-1)}, "shape", intAttr("axis", 0))
	b.node("Reshape", []string{"x", "shape"}, "y")
	p := mustOpen(t, graphModel(b, 13, tensorInput("x", -1, 2, 3, 4)), Options{})
	if p.Outputs != 24 || len(p.steps) != 0 {
		t.Errorf("%d outputs in %d steps, want 24 in 0", p.Outputs, len(p.steps))
	}
}

func TestSliceSplitBatchAxis(t *testing.T) {
	for name, node := range map[string]func(b *builder){
		"Slice": func(b *builder) { b.node("Slice", []string{"x", b.ints(1), b.ints(2), b.ints(0)}, "y") },
		"Split": func(b *builder) {
			b.nodes = append(b.nodes, &onnx.NodeProto{OpType: "Split", Input: []string{"x"}, Output: []string{"y", "z"}})
		},
	} {
		b := &builder{rng: rand.New(rand.NewPCG(1, 2))}
		node(b)
		m := graphModel(b, 13, tensorInput("x", -1, 2, 3, 4))
		if _, err := openModel(t, m, Options{}); !errors.Is(err, onnx.ErrUnsupported) {
			t.Errorf("%s over the batch: got %v, want unsupported", name, err)
		}
		if _, err := openModel(t, m, Options{Shapes: map[string][]int{"x": {2, 2, 3, 4}}}); err != nil {
			t.Errorf("%s of whole tensors: %v", name, err)
		}
	}
	// The identity on axis 0 is allowed.
	b := &builder{rng: rand.New(rand.NewPCG(1, 2))}
	b.node("Slice", []string{"x", b.ints(0, 1), b.ints(1<<40, 2), b.ints(0, 1)}, "y")
	mustOpen(t, graphModel(b, 13, tensorInput("x", -1, 2, 3, 4)), Options{})
}

// TestNodeTestsIntInputs runs ONNX's node tests of this family whose int64
// inputs (starts, ends, axes, steps, split, shape) are graph inputs: the
// whole-tensor node tests leave them aside (Run takes floats), while real
// graphs give them as constants. Each becomes an initializer here, and
// every float32 output must match within the node tests' tolerance. The
// folder is LENETKIT_NODE_TESTS's (reference/onnx_node_tests.py writes it).
func TestNodeTestsIntInputs(t *testing.T) {
	dir := os.Getenv("LENETKIT_NODE_TESTS")
	if dir == "" {
		t.Skip("LENETKIT_NODE_TESTS is not set")
	}
	prefixes := []string{"test_transpose", "test_slice", "test_split", "test_expand", "test_constantofshape",
		"test_reduce_mean", "test_reduce_max", "test_reduce_sum_"}
	ents, err := os.ReadDir(filepath.Join(dir, "node"))
	if err != nil {
		t.Fatal(err)
	}
	passed := 0
	for _, e := range ents {
		name := e.Name()
		if !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(name, p) }) ||
			strings.HasPrefix(name, "test_reduce_sum_square") {
			continue
		}
		why, ok := runIntInputsCase(t, filepath.Join(dir, "node", name))
		switch {
		case ok:
			passed++
		case why != "":
			t.Logf("%s: %s", name, why)
		}
	}
	t.Logf("%d node tests pass", passed)
	if passed < 48 {
		t.Errorf("%d node tests pass, want the 48 of ONNX 1.12 that apply", passed)
	}
}

// runIntInputsCase runs one node test; a test that is not applicable (a
// type other than float32 and int64, or a form refused as unsupported)
// returns its reason and not ok, a failure is reported on t.
func runIntInputsCase(t *testing.T, dir string) (why string, ok bool) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := onnx.Unmarshal(raw, dir)
	if err != nil {
		t.Fatal(err)
	}
	read := func(path string) (*onnx.TensorProto, *onnx.Tensor) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		p := &onnx.TensorProto{}
		if err := p.Unmarshal(b); err != nil {
			t.Fatal(err)
		}
		x, err := onnx.DecodeTensor(p)
		if err != nil {
			t.Fatal(err)
		}
		return p, x
	}
	shapes := map[string][]int{}
	var data [][]float32
	var inputs []*onnx.ValueInfoProto
	for i, in := range m.Graph.Input {
		p, x := read(filepath.Join(dir, "test_data_set_0", fmt.Sprintf("input_%d.pb", i)))
		switch x.DType {
		case onnx.DType(onnx.TensorProto_INT64):
			p.Name = in.Name
			m.Graph.Initializer = append(m.Graph.Initializer, p)
		case onnx.Float:
			inputs = append(inputs, in)
			shapes[in.Name] = append([]int{}, x.Shape...)
			data = append(data, x.Float)
		default:
			return "input " + x.DType.String(), false
		}
	}
	m.Graph.Input = inputs
	var wants []*onnx.Tensor
	for i := range m.Graph.Output {
		_, w := read(filepath.Join(dir, "test_data_set_0", fmt.Sprintf("output_%d.pb", i)))
		if w.DType != onnx.Float {
			return "output " + w.DType.String(), false
		}
		wants = append(wants, w)
	}
	plan, err := openModel(t, m, Options{Shapes: shapes})
	// A run-time input of no values (test_split_zero_size_splits) is
	// refused by the plan, whatever its operators.
	if errors.Is(err, onnx.ErrUnsupported) || err != nil && strings.Contains(err.Error(), "holds no values") {
		return err.Error(), false
	}
	if err != nil {
		t.Errorf("%s: %v", filepath.Base(dir), err)
		return "", false
	}
	got, err := plan.Run(data)
	if err != nil {
		t.Errorf("%s: %v", filepath.Base(dir), err)
		return "", false
	}
	for i, w := range wants {
		if !slices.Equal(plan.Results()[i].Shape, w.Shape) && numel(w.Shape) != 1 {
			t.Errorf("%s: output %d of shape %v, want %v", filepath.Base(dir), i, plan.Results()[i].Shape, w.Shape)
			return "", false
		}
		for j, v := range w.Float {
			if g := got[i][j]; !(math.Abs(float64(g-v)) <= 1e-7+1e-3*math.Abs(float64(v))) {
				t.Errorf("%s: output %d element %d is %v, want %v", filepath.Base(dir), i, j, g, v)
				return "", false
			}
		}
	}
	return "", true
}
