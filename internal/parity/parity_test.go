package parity

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/mnisttest"
	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/onnx"
	"github.com/lenetkit/lenetkit/onnx/backend"
)

// The fixtures issue 21 asks for, and how each graph ends.
var wantHeads = map[string]string{
	"lenet5":         "",
	"cnn28":          "LogSoftmax",
	"keras2onnx_160": "Softmax",
	"dwbn":           "",
}

func loadAll(t *testing.T) []*Fixture {
	t.Helper()
	fs, err := LoadAll(testtool.Testdata("train_parity"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range fs {
		names = append(names, f.Name)
	}
	want := sortedKeys(wantHeads)
	if !slices.Equal(names, want) {
		t.Fatalf("fixtures %v, want %v", names, want)
	}
	return fs
}

func maxDiff(got []float32, want []float64) (float64, int) {
	worst, at := 0.0, -1
	for i := range got {
		if d := math.Abs(float64(got[i]) - want[i]); d > worst || math.IsNaN(d) {
			worst, at = d, i
		}
	}
	return worst, at
}

// maxRelDiff is maxDiff measured relative to max(1, |want|): float32
// holds a log-probability of -20 only to about 2e-6.
func maxRelDiff(got []float32, want []float64) (float64, int) {
	worst, at := 0.0, -1
	for i := range got {
		if d := math.Abs(float64(got[i])-want[i]) / max(1, math.Abs(want[i])); d > worst || math.IsNaN(d) {
			worst, at = d, i
		}
	}
	return worst, at
}

func widen(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// TestFixturesAreWhatTheySay checks each committed fixture against its
// ONNX file and against itself: the weights it started from are the
// file's, the Adam update is one Adam step of the stored gradient, the
// loss is the cross-entropy of the stored logits, the graph's output is
// the logits through its head, and lenetkit's own inference backend,
// which shares no code with PyTorch, computes the stored output from the
// stored input.
func TestFixturesAreWhatTheySay(t *testing.T) {
	for _, f := range loadAll(t) {
		t.Run(f.Name, func(t *testing.T) { checkFixture(t, f) })
	}
}

func checkFixture(t *testing.T, f *Fixture) {
	modelPath := filepath.Join(testtool.RepoRoot(), filepath.FromSlash(f.Model))
	data, err := os.ReadFile(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != f.ModelSHA256 {
		t.Fatalf("%s has changed since the fixture was made (sha256 %x, manifest %s); rerun reference/onnx_train_parity.py", f.Model, sum, f.ModelSHA256)
	}
	m, err := onnx.Load(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	g := m.Graph

	// Every float initializer is a trained weight or a running statistic.
	var floats []string
	for name, init := range g.Initializers {
		if init.DType == onnx.Float {
			floats = append(floats, name)
		}
	}
	slices.Sort(floats)
	covered := append(f.Params(), sortedKeys(f.Running)...)
	slices.Sort(covered)
	if !slices.Equal(floats, covered) {
		t.Errorf("float initializers %v, fixture covers %v", floats, covered)
	}

	// The Adam step, from the file's weights.
	for _, name := range f.Params() {
		init := g.Initializers[name]
		if init == nil {
			t.Errorf("%s: not an initializer of %s", name, f.Model)
			continue
		}
		grad, upd := f.Grads[name], f.Updated[name]
		if !slices.Equal(init.Shape, grad.Shape) {
			t.Errorf("%s: initializer of shape %v, gradient %v", name, init.Shape, grad.Shape)
			continue
		}
		if !slices.ContainsFunc(grad.Data, func(v float32) bool { return v != 0 }) {
			t.Errorf("%s: gradient is all zeros", name)
		}
		want, err := AdamStep(init.Float, grad.Data, f.Optimizer)
		if err != nil {
			t.Fatal(err)
		}
		if d, i := maxDiff(upd.Data, want); d > f.SelfTol {
			t.Errorf("%s: Adam update differs from w - lr*m_hat/(sqrt(v_hat)+eps) by %.3g at %d (w %g, g %g, stored %g, computed %g)",
				name, d, i, init.Float[i], grad.Data[i], upd.Data[i], want[i])
		}
	}

	// The loss.
	ce, err := CrossEntropy(f.Logits, f.Labels)
	if err != nil {
		t.Fatal(err)
	}
	if d := math.Abs(ce - float64(f.Loss)); d > f.SelfTol {
		t.Errorf("loss %g, cross-entropy of the logits %g", f.Loss, ce)
	}

	// The last bias's gradient is the batch mean of softmax(logits) -
	// onehot(label): the one gradient the stored values fix exactly. (The
	// first Adam step is lr * sign(g) nearly everywhere, so the Adam check
	// above says little about the gradients' size.)
	checkLastBias(t, f, g)

	// The logits are the input of the head named, and the head makes the output.
	if f.Head != wantHeads[f.Name] {
		t.Errorf("head %q, want %q", f.Head, wantHeads[f.Name])
	}
	checkHead(t, f, g)

	// BatchNorm's running statistics moved, and stayed positive.
	for _, bn := range f.BatchNorm {
		for _, name := range []string{bn.Mean, bn.Var} {
			old, upd := g.Initializers[name], f.Running[name]
			if old == nil || !slices.Equal(old.Shape, upd.Shape) {
				t.Errorf("%s: no initializer of shape %v", name, upd.Shape)
				continue
			}
			if slices.Equal(old.Float, upd.Data) {
				t.Errorf("%s: unchanged by the training step", name)
			}
		}
		if slices.ContainsFunc(f.Running[bn.Var].Data, func(v float32) bool { return v <= 0 }) {
			t.Errorf("%s: a running variance is not positive", bn.Var)
		}
		if math.Abs(bn.ONNXMomentum+bn.TorchMomentum-1) > 1e-12 {
			t.Errorf("%s: momenta %g (ONNX) and %g (torch) do not sum to 1", bn.Node, bn.ONNXMomentum, bn.TorchMomentum)
		}
	}
	var running []string
	for _, bn := range f.BatchNorm {
		running = append(running, bn.Mean, bn.Var)
	}
	slices.Sort(running)
	if !slices.Equal(running, sortedKeys(f.Running)) {
		t.Errorf("running statistics %v, BatchNormalization nodes name %v", sortedKeys(f.Running), running)
	}

	// The input: the graph's, with the preprocessing it declares.
	if len(g.Inputs) != 1 || g.Inputs[0].Name != f.InputName {
		t.Fatalf("graph inputs %v, fixture's %q", g.Inputs, f.InputName)
	}
	decl := g.Inputs[0].Shape()
	if len(decl) != len(f.Input.Shape) || !slices.Equal(decl[1:], f.Input.Shape[1:]) {
		t.Errorf("input of shape %v, the graph declares %v", f.Input.Shape, decl)
	}
	if v, ok := m.Metadata[onnx.MetaPreprocess]; ok {
		var p Preprocess
		if err := json.Unmarshal([]byte(v), &p); err != nil {
			t.Fatal(err)
		}
		if p != f.Preprocess {
			t.Errorf("preprocessing %+v, the graph declares %+v", f.Preprocess, p)
		}
	}
	lo, hi := -f.Preprocess.Mean/f.Preprocess.Std, (1-f.Preprocess.Mean)/f.Preprocess.Std
	for i, v := range f.Input.Data {
		if float64(v) < lo-1e-6 || float64(v) > hi+1e-6 {
			t.Fatalf("input element %d is %g, outside [%g, %g], what pixels in [0, 1] become", i, v, lo, hi)
		}
	}

	// lenetkit's inference backend on the same input.
	plan, err := backend.OpenOptions(modelPath, backend.Options{Shapes: map[string][]int{f.InputName: f.Input.Shape}})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := plan.Run([][]float32{f.Input.Data})
	if err != nil {
		t.Fatal(err)
	}
	if d, i := maxDiff(outs[0], widen(f.Output.Data)); d > f.ParityTol || len(outs[0]) != len(f.Output.Data) {
		t.Errorf("lenetkit's backend computes an output %.3g away from PyTorch's at %d (%d values, want %d)", d, i, len(outs[0]), len(f.Output.Data))
	}
}

// checkHead checks that the logits are the value the manifest names and
// that the graph's head turns them into its output: Softmax, LogSoftmax,
// or nothing. Without a head and without BatchNorm, inference and the
// training step compute the same thing, so the output is the logits.
func checkHead(t *testing.T, f *Fixture, g *onnx.Graph) {
	t.Helper()
	if len(g.Outputs) != 1 || g.Outputs[0].Name != f.OutputName {
		t.Fatalf("graph outputs %v, fixture's %q", g.Outputs, f.OutputName)
	}
	n, c := f.Logits.Shape[0], f.Logits.Shape[1]
	want := make([]float64, n*c)
	switch f.Head {
	case "":
		if f.LogitsValue != f.OutputName {
			t.Errorf("no head, but the logits are %q, not the output %q", f.LogitsValue, f.OutputName)
		}
		if len(f.BatchNorm) > 0 {
			return // inference normalises by the running statistics, training by the batch's
		}
		copy(want, widen(f.Logits.Data))
	case "Softmax", "LogSoftmax":
		var head *onnx.Node
		for _, node := range g.Nodes {
			if node.OpType == f.Head {
				head = node
			}
		}
		if head == nil || head.Input(0) != f.LogitsValue {
			t.Errorf("the logits %q are not the input of a %s node", f.LogitsValue, f.Head)
		}
		for i := range n {
			row := widen(f.Logits.Data[i*c : (i+1)*c])
			top := slices.Max(row)
			var s float64
			for _, v := range row {
				s += math.Exp(v - top)
			}
			for j, v := range row {
				if f.Head == "Softmax" {
					want[i*c+j] = math.Exp(v-top) / s
				} else {
					want[i*c+j] = v - top - math.Log(s)
				}
			}
		}
	default:
		t.Fatalf("head %q", f.Head)
	}
	if d, i := maxRelDiff(f.Output.Data, want); d > f.SelfTol {
		t.Errorf("output differs from %s(logits) by %.3g (relative to max(1, |value|)) at %d", cmpOr(f.Head, "identity"), d, i)
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// TestBatchIsMNIST checks that the batch is what the manifests say: MNIST
// training images 0..7 and their labels, preprocessed as the graph
// declares, in its layout, read with lenetkit's own MNIST reader.
func TestBatchIsMNIST(t *testing.T) {
	testtool.SkipShort(t)
	fs := loadAll(t)
	set := mnisttest.Set(t, "train")
	for _, f := range fs {
		if !strings.HasPrefix(f.BatchSource, "MNIST") {
			t.Errorf("%s: batch from %q, not MNIST", f.Name, f.BatchSource)
			continue
		}
		n := f.Input.Shape[0]
		for i, y := range f.Labels {
			if y != int64(set.Labels[i]) {
				t.Errorf("%s: label %d is %d, MNIST's %d", f.Name, i, y, set.Labels[i])
			}
		}
		p := f.Preprocess
		side := set.Rows + 2*p.Pad
		worst := 0.0
		for i := range n {
			for r := range side {
				for c := range side {
					var px float64
					if r >= p.Pad && r < p.Pad+set.Rows && c >= p.Pad && c < p.Pad+set.Cols {
						px = float64(set.Images[(i*set.Rows+r-p.Pad)*set.Cols+c-p.Pad]) / 255
					}
					at := (i*side+r)*side + c // NCHW and NHWC agree for one channel
					worst = max(worst, math.Abs(float64(f.Input.Data[at])-(px-p.Mean)/p.Std))
				}
			}
		}
		if worst > f.SelfTol {
			t.Errorf("%s: input differs from MNIST's images preprocessed with %+v by %.3g", f.Name, p, worst)
		}
		if len(f.Input.Data) != n*side*side {
			t.Errorf("%s: %d input values, want %d", f.Name, len(f.Input.Data), n*side*side)
		}
	}
}

// TestScriptReproducesFixtures reruns reference/onnx_train_parity.py into
// a temporary folder and compares what it writes with the committed
// fixtures, so that the script and its output cannot drift apart. The
// bar is the fixture's parity tolerance, what any implementation of the
// step must meet against it: PyTorch's own kernels differ from one CPU to
// another (AVX-512 or AVX2) by a few 1e-6, which Adam's update magnifies
// where a gradient is small.
func TestScriptReproducesFixtures(t *testing.T) {
	py := testtool.RequirePython(t, "torch", "onnx", "numpy")
	committed := loadAll(t)
	dir := t.TempDir()
	dwbn := filepath.Join(dir, "dwbn.onnx")
	// A fresh interpreter, not testtool's shared one: the script sets
	// torch's thread count and deterministic mode for the process.
	cmd := exec.Command(py, testtool.Reference("onnx_train_parity.py"), "--out", dir, "--dwbn", dwbn)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("onnx_train_parity.py: %v\n%s", err, out)
	}
	for _, want := range committed {
		got, err := Load(filepath.Join(dir, want.Name))
		if err != nil {
			t.Fatal(err)
		}
		t.Run(want.Name, func(t *testing.T) {
			if want.Name == "dwbn" {
				sameModel(t, dwbn, filepath.Join(testtool.RepoRoot(), filepath.FromSlash(want.Model)))
			} else if got.ModelSHA256 != want.ModelSHA256 {
				t.Errorf("made from a model of sha256 %s, the committed fixture from %s", got.ModelSHA256, want.ModelSHA256)
			}
			sameFixture(t, got, want, want.ParityTol)
		})
	}
}

// sameModel compares the dwbn.onnx the script just wrote with the
// committed one: the same nodes and initializers within 1e-6.
func sameModel(t *testing.T, gotPath, wantPath string) {
	t.Helper()
	got, err := onnx.Load(gotPath)
	if err != nil {
		t.Fatal(err)
	}
	want, err := onnx.Load(wantPath)
	if err != nil {
		t.Fatal(err)
	}
	describe := func(g *onnx.Graph) []string {
		var s []string
		for _, n := range g.Nodes {
			s = append(s, n.Describe())
		}
		return s
	}
	if a, b := describe(got.Graph), describe(want.Graph); !slices.Equal(a, b) {
		t.Errorf("dwbn.onnx nodes differ:\n%v\ncommitted:\n%v", a, b)
	}
	if !maps.Equal(got.Metadata, want.Metadata) {
		t.Errorf("dwbn.onnx metadata %v, committed %v", got.Metadata, want.Metadata)
	}
	names := sortedKeys(want.Graph.Initializers)
	if !slices.Equal(sortedKeys(got.Graph.Initializers), names) {
		t.Fatalf("dwbn.onnx initializers %v, committed %v", sortedKeys(got.Graph.Initializers), names)
	}
	for _, name := range names {
		a, b := got.Graph.Initializers[name], want.Graph.Initializers[name]
		if !slices.Equal(a.Shape, b.Shape) {
			t.Errorf("dwbn.onnx %s: shape %v, committed %v", name, a.Shape, b.Shape)
			continue
		}
		if d, i := maxDiff(a.Float, widen(b.Float)); d > 1e-6 {
			t.Errorf("dwbn.onnx %s differs by %.3g at %d", name, d, i)
		}
	}
}

// sameFixture fails t where got and want differ: in what the manifests
// say, or in a tensor by more than tol.
func sameFixture(t *testing.T, got, want *Fixture, tol float64) {
	t.Helper()
	meta := func(f *Fixture) string {
		return fmt.Sprintf("%s %s %q %s %s %+v %q %q %q %q %+v %+v %g %g %q %v",
			f.Name, f.Model, f.Contract, f.InputName, f.Layout, f.Preprocess, f.BatchSource,
			f.LogitsValue, f.Head, f.OutputName, f.Optimizer, f.BatchNorm, f.ParityTol, f.SelfTol, f.Dropout, f.Labels)
	}
	if a, b := meta(got), meta(want); a != b {
		t.Errorf("manifest differs:\n got %s\nwant %s", a, b)
	}
	cmpTensor := func(what string, a, b Tensor) {
		if !slices.Equal(a.Shape, b.Shape) {
			t.Errorf("%s: shape %v, committed %v", what, a.Shape, b.Shape)
			return
		}
		if d, i := maxDiff(a.Data, widen(b.Data)); d > tol {
			t.Errorf("%s differs from the committed file by %.3g at %d", what, d, i)
		}
	}
	cmpTensor("input", got.Input, want.Input)
	cmpTensor("logits", got.Logits, want.Logits)
	cmpTensor("output", got.Output, want.Output)
	cmpTensor("loss", Tensor{Data: []float32{got.Loss}}, Tensor{Data: []float32{want.Loss}})
	for _, set := range []struct {
		what      string
		got, want map[string]Tensor
	}{{"grad", got.Grads, want.Grads}, {"adam", got.Updated, want.Updated}, {"bn", got.Running, want.Running}} {
		if !slices.Equal(sortedKeys(set.got), sortedKeys(set.want)) {
			t.Errorf("%s: tensors %v, committed %v", set.what, sortedKeys(set.got), sortedKeys(set.want))
			continue
		}
		for name, w := range set.want {
			cmpTensor(set.what+" "+name, set.got[name], w)
		}
	}
}

// copyFixture copies the committed fixture name into a temporary folder,
// applies edit to its manifest (decoded as generic JSON) and returns the
// folder.
func copyFixture(t *testing.T, name string, edit func(m map[string]any)) string {
	t.Helper()
	src := testtool.Testdata(filepath.Join("train_parity", name))
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dst, ManifestName)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	if raw, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestLoadRefuses checks that Load refuses a fixture whose manifest and
// files disagree, rather than handing a test wrong references.
func TestLoadRefuses(t *testing.T) {
	obj := func(m map[string]any, key string) map[string]any { return m[key].(map[string]any) }
	param := func(m map[string]any, name string) map[string]any { return obj(obj(m, "params"), name) }
	cases := []struct {
		name, want string
		edit       func(m map[string]any)
	}{
		{"unchanged", "", func(map[string]any) {}},
		{"file outside the folder", "not a path inside", func(m map[string]any) { param(m, "0.weight")["grad"] = "../cnn28/grad/0.weight.npy" }},
		{"absolute file", "not a path inside", func(m map[string]any) { obj(m, "input")["file"] = "/input.npy" }},
		{"missing file", "no such file", func(m map[string]any) { param(m, "0.weight")["adam"] = "adam/none.npy" }},
		{"wrong shape", "the manifest says", func(m map[string]any) { param(m, "0.weight")["shape"] = []int{8, 9} }},
		{"grad in another's file", "the manifest says", func(m map[string]any) { param(m, "0.weight")["grad"] = "grad/11.weight.npy" }},
		{"labels not int64", "want int64", func(m map[string]any) { m["labels"] = "loss.npy" }},
		{"loss not a scalar", "the manifest says []", func(m map[string]any) { obj(m, "loss")["file"] = "logits.npy" }},
		{"no optimizer", "optimizer", func(m map[string]any) { delete(m, "optimizer") }},
		{"two Adam steps", "one Adam step", func(m map[string]any) { obj(m, "optimizer")["steps"] = 2 }},
		{"no params", "params", func(m map[string]any) { m["params"] = map[string]any{} }},
		{"BatchNorm scale not a param", "not among params", func(m map[string]any) { delete(obj(m, "params"), "1.weight") }},
		{"BatchNorm mean not a buffer", "not among buffers", func(m map[string]any) { delete(obj(m, "buffers"), "4.running_mean") }},
		{"layout", "layout", func(m map[string]any) { obj(m, "input")["layout"] = "CHWN" }},
		{"logits of another batch", "want [8, classes]", func(m map[string]any) { obj(m, "logits")["file"] = "grad/11.weight.npy" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Load(copyFixture(t, "dwbn", c.edit))
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want == "" && len(f.Grads) != 10:
				t.Fatalf("%d gradients, want dwbn's 10", len(f.Grads))
			case c.want != "" && err == nil:
				t.Fatalf("accepted, want an error saying %q", c.want)
			case c.want != "" && !strings.Contains(err.Error(), c.want):
				t.Fatalf("error %q, want one saying %q", err, c.want)
			}
		})
	}
}

// checkLastBias finds the bias added last, by the Gemm or Add that writes
// the logits, and checks its gradient against d loss / d logits summed
// over the batch: (softmax(logits) - onehot(labels)) / N.
func checkLastBias(t *testing.T, f *Fixture, g *onnx.Graph) {
	t.Helper()
	var bias string
	for _, n := range g.Nodes {
		if len(n.Outputs) == 0 || n.Outputs[0] != f.LogitsValue {
			continue
		}
		switch n.OpType {
		case "Gemm":
			bias = n.Input(2)
		case "Add":
			bias = n.Input(1)
		}
	}
	grad, ok := f.Grads[bias]
	if !ok {
		t.Fatalf("the logits %q are not written by a Gemm or Add of a trained bias", f.LogitsValue)
	}
	n, c := f.Logits.Shape[0], f.Logits.Shape[1]
	want := make([]float64, c)
	for i := range n {
		row := widen(f.Logits.Data[i*c : (i+1)*c])
		top := slices.Max(row)
		var s float64
		for _, v := range row {
			s += math.Exp(v - top)
		}
		for j, v := range row {
			p := math.Exp(v-top) / s
			if int64(j) == f.Labels[i] {
				p--
			}
			want[j] += p / float64(n)
		}
	}
	if d, i := maxDiff(grad.Data, want); d > f.SelfTol || len(grad.Data) != c {
		t.Errorf("gradient of %s differs from mean(softmax(logits) - onehot(labels)) by %.3g at %d", bias, d, i)
	}
}
