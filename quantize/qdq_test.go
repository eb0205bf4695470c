package quantize

import (
	"context"
	"errors"
	"math"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/mnisttest"
	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/mnist"
	"github.com/lenetkit/lenetkit/onnx"
	"github.com/lenetkit/lenetkit/onnx/backend"
)

// quantizeSeed quantizes the seed's float graph (torch's names) with
// MinMax over MNIST training images 0..255, as testdata/quant's QDQ files
// were.
func quantizeSeed(t *testing.T, opt Options) (*onnx.Model, *Summary) {
	t.Helper()
	m := seedFloat(t)
	p, err := NewPlan(m, opt)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Calibrate(context.Background(), m, p.Tensors(), mnistImages{mnisttest.Set(t, "train"), 256}, Calibration{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	q, sum, err := p.Apply(r)
	if err != nil {
		t.Fatal(err)
	}
	return q, sum
}

// TestSeedQDQMatchesFixtures quantizes the seed's LeNet as
// reference/quant_fixtures.py did with ONNX Runtime's rules and compares
// the result with its files: the same nodes in the same order, with the
// same inputs, outputs and names; the same initializers, of the same
// types and shapes; the same int8 weights; scales within float32's
// rounding of ONNX Runtime's ranges (its float graph's activations differ
// from lenetkit's in the last bits), zero points and int32 biases within
// one step.
func TestSeedQDQMatchesFixtures(t *testing.T) {
	for _, tc := range []struct {
		file string
		opt  Options
	}{{"seed_qdq_channel.onnx", Options{}}, {"seed_qdq_tensor.onnx", Options{PerTensor: true}}} {
		t.Run(tc.file, func(t *testing.T) {
			got, _ := quantizeSeed(t, tc.opt)
			want, err := onnx.Load(testtool.Testdata("quant/" + tc.file))
			if err != nil {
				t.Fatal(err)
			}
			compareQDQ(t, got, want)
		})
	}
}

func compareQDQ(t *testing.T, got, want *onnx.Model) {
	t.Helper()
	if got.Opset != want.Opset {
		t.Errorf("opset %d, want %d", got.Opset, want.Opset)
	}
	gn, wn := got.Graph.Nodes, want.Graph.Nodes
	if len(gn) != len(wn) {
		t.Fatalf("%d nodes, want %d:\n%s\nwant\n%s", len(gn), len(wn), nodeList(gn), nodeList(wn))
	}
	for i := range gn {
		g, w := gn[i], wn[i]
		if g.OpType != w.OpType || g.Name != w.Name || !slices.Equal(g.Inputs, w.Inputs) || !slices.Equal(g.Outputs, w.Outputs) {
			t.Errorf("node %d: %s %q %v -> %v, want %s %q %v -> %v", i, g.OpType, g.Name, g.Inputs, g.Outputs, w.OpType, w.Name, w.Inputs, w.Outputs)
			continue
		}
		ga, _ := g.Attrs.Int("axis", -99)
		wa, _ := w.Attrs.Int("axis", -99)
		if ga != wa {
			t.Errorf("node %d (%s): axis %d, want %d (-99: none)", i, g.Name, ga, wa)
		}
	}
	gi, wi := got.Graph.Initializers, want.Graph.Initializers
	for name := range wi {
		if gi[name] == nil {
			t.Errorf("initializer %q missing", name)
		}
	}
	for name, g := range gi {
		w := wi[name]
		if w == nil {
			t.Errorf("initializer %q is not in the fixture", name)
			continue
		}
		if g.DType != w.DType || !slices.Equal(g.Shape, w.Shape) {
			t.Errorf("initializer %q: %s %v, want %s %v", name, g.DType, g.Shape, w.DType, w.Shape)
			continue
		}
		switch {
		case g.DType == onnx.Float:
			for k := range g.Float {
				if d := math.Abs(float64(g.Float[k] - w.Float[k])); d > 2e-6*math.Abs(float64(w.Float[k])) {
					t.Errorf("initializer %q[%d] = %g, want %g", name, k, g.Float[k], w.Float[k])
					break
				}
			}
		case strings.HasSuffix(name, ".weight_quantized"):
			if !slices.Equal(g.Int, w.Int) {
				t.Errorf("initializer %q: int8 weights differ", name)
			}
		default: // zero points and int32 biases: within one step
			for k := range g.Int {
				if d := g.Int[k] - w.Int[k]; d < -1 || d > 1 {
					t.Errorf("initializer %q[%d] = %d, want %d", name, k, g.Int[k], w.Int[k])
					break
				}
			}
		}
	}
}

func nodeList(nodes []*onnx.Node) string {
	var b strings.Builder
	for _, n := range nodes {
		b.WriteString(n.OpType + " " + n.Name + " " + strings.Join(n.Inputs, ",") + " -> " + strings.Join(n.Outputs, ",") + "\n")
	}
	return b.String()
}

// mnist28 are MNIST images cropped to 28x28, as the zoo's mnist-12 takes
// them.
type mnist28 struct{ mnistImages }

func (s mnist28) Fill(i, n int, x []float32) error {
	x32 := make([]float32, n*1024)
	if err := s.mnistImages.Fill(i, n, x32); err != nil {
		return err
	}
	for k := range n {
		for r := range 28 {
			copy(x[k*784+r*28:k*784+r*28+28], x32[k*1024+(r+2)*32+2:])
		}
	}
	return nil
}

// TestQDQOtherGraph quantizes the zoo's mnist-12 network (testdata/quant's
// float original: Conv, Relu, MaxPool, Reshape, MatMul, Add; opset 12)
// per channel: the model moves to opset 13 (DequantizeLinear's axis), the
// Relus fold into the Convs' ranges, MaxPool and Reshape share their
// input's parameters, the MatMul's weight is quantized along axis 1 and
// the Add stays a float node reading a DQ's output. ONNX's checker
// passes it, and lenetkit's backend runs it close to the float model: the same prediction on at least 31 of 32 test images,
// the logits within 2 output steps on average (percentile calibration
// saturates the largest).
func TestQDQOtherGraph(t *testing.T) {
	m, err := onnx.Load(testtool.Testdata("quant/mnist12_float.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"Input3", "ReLU32_Output_0", "ReLU114_Output_0", "Times212_Output_0"}; !slices.Equal(p.Tensors(), want) {
		t.Errorf("tensors %v, want %v", p.Tensors(), want)
	}
	if want := []string{"ReLU32", "ReLU114"}; !slices.Equal(p.Removed(), want) {
		t.Errorf("removed %v, want %v", p.Removed(), want)
	}
	images := mnist28{mnistImages{mnisttest.Set(t, "train"), 100}}
	r, err := Calibrate(context.Background(), m, p.Tensors(), images, Calibration{Method: Percentile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	q, sum, err := p.Apply(r)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, n := range q.Graph.Nodes {
		ops = append(ops, strings.TrimSuffix(strings.TrimSuffix(n.OpType, "uantizeLinear"), "eq"))
	}
	want := "Q D | D D Conv Q D | MaxPool Q D | D D Conv Q D | MaxPool Q D | Reshape Q D | D MatMul Q D | Add"
	if got := strings.Join(ops, " "); got != strings.ReplaceAll(want, "| ", "") {
		t.Errorf("nodes\n%s\nwant\n%s", got, strings.ReplaceAll(want, "| ", ""))
	}
	if q.Opset != 13 || q.IRVersion < 7 {
		t.Errorf("opset %d, IR version %d", q.Opset, q.IRVersion)
	}
	if len(sum.Weights) != 3 || *sum.Weights[2].Axis != 1 || sum.Weights[2].Scales != 10 || sum.Biases != 2 {
		t.Errorf("weights %+v, %d biases", sum.Weights, sum.Biases)
	}
	add := q.Graph.Nodes[len(q.Graph.Nodes)-1]
	if !slices.Equal(add.Inputs, []string{"Times212_Output_0_DequantizeLinear_Output", "Parameter194"}) || q.Graph.Initializers["Parameter194"].DType != onnx.Float {
		t.Errorf("the Add: %v", add.Inputs)
	}
	path := filepath.Join(t.TempDir(), "mnist12_qdq.onnx")
	writeModel(t, q, path)
	checker(t, path)

	// The quantized and the float model on 32 test images.
	test := mnist28{mnistImages{mnisttest.Set(t, "test"), 32}}
	x := make([]float32, 32*784)
	if err := test.Fill(0, 32, x); err != nil {
		t.Fatal(err)
	}
	fl := logits(t, testtool.Testdata("quant/mnist12_float.onnx"), x)
	ql := logits(t, path, x)
	step := float64(sum.Activations[len(sum.Activations)-1].Scale) // the MatMul's output step
	agree, diff := 0, 0.0
	for i := range 32 {
		if mnist.Argmax(fl[i*10:(i+1)*10]) == mnist.Argmax(ql[i*10:(i+1)*10]) {
			agree++
		}
		for k := i * 10; k < (i+1)*10; k++ {
			diff += math.Abs(float64(fl[k]-ql[k])) / 320
		}
	}
	t.Logf("agree on %d of 32 images; logits %.3g apart on average (%.2g steps)", agree, diff, diff/step)
	if agree < 31 || diff > 2*step {
		t.Errorf("quantized and float models agree on %d of 32 images, logits %.3g apart on average (%.2g steps)", agree, diff, diff/step)
	}
}

func writeModel(t *testing.T, m *onnx.Model, path string) {
	t.Helper()
	p, err := onnx.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := onnx.Write(path, p); err != nil {
		t.Fatal(err)
	}
}

// checker runs ONNX's checker, full_check (shape inference included), on
// the file at path.
func checker(t *testing.T, path string) {
	t.Helper()
	py := testtool.RequirePython(t, "onnx")
	out, err := exec.Command(py, "-c", "import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)", path).CombinedOutput()
	if err != nil {
		t.Errorf("onnx.checker on %s: %v\n%s", filepath.Base(path), err, out)
	}
}

// logits runs the ONNX file at path on 28x28 or 32x32 images x with
// lenetkit's backend.
func logits(t *testing.T, path string, x []float32) []float32 {
	t.Helper()
	pl, err := backend.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	n := len(x) / (pl.Height * pl.Width)
	out := make([]float32, n*pl.Outputs)
	if err := pl.Logits(out, x, n); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSeedQDQChecked: the seed's QDQ files pass ONNX's checker, per
// channel with int8 activations too, whose zero points are int8 (-128
// for the input's [0, 1]).
func TestSeedQDQChecked(t *testing.T) {
	testtool.RequirePython(t, "onnx")
	for _, opt := range []Options{{}, {PerTensor: true}, {Activations: onnx.Int8}} {
		q, sum := quantizeSeed(t, opt)
		path := filepath.Join(t.TempDir(), "seed.onnx")
		writeModel(t, q, path)
		checker(t, path)
		if opt.Activations == onnx.Int8 {
			zp := q.Graph.Initializers["input_zero_point"]
			if zp.DType != onnx.Int8 || zp.Int[0] != -128 || sum.Activations[0].ZeroPoint != -128 {
				t.Errorf("int8 activations: input zero point %s %v", zp.DType, zp.Int)
			}
		}
	}
}

// TestPlanRefuses: a graph of an opset before 13 that cannot be rewritten
// at 13 (an Upsample), per channel or below opset 10; a graph with no
// weights, an activation without its range. One that can be rewritten is
// planned at opset 13, and the model given is not changed.
func TestPlanRefuses(t *testing.T) {
	m, err := onnx.Load(testtool.Testdata("quant/mnist12_float.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	m.Graph.Nodes = append(m.Graph.Nodes, &onnx.Node{Name: "sm", OpType: "Softmax", Inputs: []string{"Plus214_Output_0"}, Outputs: []string{"probs"}})
	m.Graph.Outputs[0].Name = "probs"
	nodes := len(m.Graph.Nodes)
	for _, opset := range []int64{12, 9} {
		m.Opset, m.Opsets[""] = opset, opset
		for _, opt := range []Options{{}, {PerTensor: true}} {
			want := int64(13)
			if opset >= 10 && opt.PerTensor {
				want = opset // no rewrite needed
			}
			if p, err := NewPlan(m, opt); err != nil || p.opset != want {
				t.Errorf("opset %d, %+v, with a Softmax: %v, want a plan at opset %d", opset, opt, err, want)
			}
		}
		if m.Opset != opset || len(m.Graph.Nodes) != nodes {
			t.Fatalf("the plan changed the model: opset %d, %d nodes", m.Opset, len(m.Graph.Nodes))
		}
	}
	up := *m
	g := *m.Graph
	up.Graph = &g
	g.Nodes = append(slices.Clone(g.Nodes), &onnx.Node{Name: "up", OpType: "Upsample", Inputs: []string{"probs", "scales"}, Outputs: []string{"big"}})
	for _, c := range []struct {
		opset int64
		opt   Options
		ok    bool
	}{{12, Options{}, false}, {12, Options{PerTensor: true}, true}, {9, Options{PerTensor: true}, false}} {
		up.Opset = c.opset
		_, err := NewPlan(&up, c.opt)
		if c.ok != (err == nil) || (err != nil && (!errors.Is(err, ErrOpset) || !strings.Contains(err.Error(), "Upsample"))) {
			t.Errorf("opset %d with an Upsample, %+v: %v", c.opset, c.opt, err)
		}
	}
	relu := &onnx.Model{Opset: 13, Graph: &onnx.Graph{Initializers: map[string]*onnx.Tensor{},
		Nodes:  []*onnx.Node{{OpType: "Relu", Inputs: []string{"x"}, Outputs: []string{"y"}}},
		Inputs: []*onnx.Value{{Name: "x"}}, Outputs: []*onnx.Value{{Name: "y"}}}}
	if _, err := NewPlan(relu, Options{}); !errors.Is(err, ErrNothing) {
		t.Errorf("a Relu alone: %v", err)
	}
	for _, file := range []string{"seed_qdq_channel.onnx", "seed_qoperator.onnx"} {
		q, err := onnx.Load(testtool.Testdata("quant/" + file))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := NewPlan(q, Options{}); !errors.Is(err, ErrNothing) || !strings.Contains(err.Error(), "quantized already") {
			t.Errorf("%s: %v, want ErrNothing saying it is quantized already", file, err)
		}
	}
	if _, err := NewPlan(relu, Options{Activations: onnx.Int32}); err == nil {
		t.Errorf("int32 activations accepted")
	}
	p, err := NewPlan(seedFloat(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ranges := map[string]Range{}
	for _, name := range p.Tensors() {
		ranges[name] = Range{-1, 1}
	}
	if _, _, err := p.Apply(ranges); err != nil {
		t.Errorf("all ranges: %v", err)
	}
	ranges["input"] = Range{0, float32(math.Inf(1))}
	if _, _, err := p.Apply(ranges); !errors.Is(err, ErrRange) {
		t.Errorf("an infinite range: %v", err)
	}
	delete(ranges, "input")
	if _, _, err := p.Apply(ranges); !errors.Is(err, ErrRange) || !strings.Contains(err.Error(), `"input"`) {
		t.Errorf("a range missing: %v", err)
	}
}

// TestCalibrateFixedBatch: a graph whose input declares a batch of 1 (as
// the ONNX model zoo's do) is calibrated one image at a time, and gives
// the ranges the same graph with a free batch gives.
func TestCalibrateFixedBatch(t *testing.T) {
	m, err := onnx.Load(testtool.Testdata("quant/mnist12_float.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	images := mnist28{mnistImages{mnisttest.Set(t, "train"), 10}}
	free, err := Calibrate(context.Background(), m, p.Tensors(), images, Calibration{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	in := *m.Graph.Inputs[0]
	in.Dims = slices.Clone(in.Dims)
	in.Dims[0] = 1
	m.Graph.Inputs[0] = &in
	fixed, err := Calibrate(context.Background(), m, p.Tensors(), images, Calibration{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range free {
		if d := math.Abs(float64(fixed[name].Max - r.Max)); d > 1e-5*math.Abs(float64(r.Max)) || fixed[name].Min != r.Min && math.Abs(float64(fixed[name].Min-r.Min)) > 1e-5*math.Abs(float64(r.Min)) {
			t.Errorf("%s: batch 1 %v, free batch %v", name, fixed[name], r)
		}
	}
	in.Dims[0] = 3
	if _, err := Calibrate(context.Background(), m, p.Tensors(), images, Calibration{}, nil); err == nil || !strings.Contains(err.Error(), "batches of exactly 3 images") {
		t.Errorf("10 images for a batch of 3: %v", err)
	}
}
