package backend_test

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	onnxgo "github.com/owulveryck/onnx-go"
	"github.com/owulveryck/onnx-go/backend/x/gorgonnx"
	"gorgonia.org/tensor"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
	"github.com/lenetkit/lenetkit/onnx/backend"
	"github.com/lenetkit/lenetkit/onnx/tensorfile"
)

// The ONNX project's own node tests (reference/onnx_node_tests.py writes
// them with python3-onnx 1.12), run through the whole-tensor plan and
// through onnx-go's gorgonnx for comparison. A test applies to lenetkit
// when every operator in its graph is backend.Supported and every input
// and output is a float32 tensor; it then passes, or fails with a reason.
// A plan refusing the test as onnx.ErrUnsupported (an attribute or a type
// outside what an operator claims) makes it not applicable, with the
// reason. LENETKIT_NODE_TESTS=DIR reuses a folder the script wrote;
// LENETKIT_WRITE_NODE_TABLE=1 writes the table to docs/onnx-node-tests.md.

// outcome is one backend's result on one test.
type outcome int

const (
	pass outcome = iota
	fail
	notApplicable
)

type nodeResult struct {
	test, op     string
	lk, gg       outcome
	lkWhy, ggWhy string
	claimed      bool // every operator Supported, every value float32
	ggRun        bool // every value float32: gorgonnx runs it
}

// gorgonnxTimeout is how long one test may take in gorgonnx before it is
// counted a failure (its goroutine is left to finish on its own).
const gorgonnxTimeout = 10 * time.Second

// nodeTests returns the folder holding node/test_*/: LENETKIT_NODE_TESTS,
// or one the script writes into a temporary folder of t's.
func nodeTests(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("LENETKIT_NODE_TESTS"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "node")); err != nil {
			t.Fatalf("LENETKIT_NODE_TESTS=%s: %v", dir, err)
		}
		return dir
	}
	py := testtool.RequirePython(t, "onnx", "numpy")
	dir := t.TempDir()
	out, err := exec.Command(py, testtool.Reference("onnx_node_tests.py"), dir).CombinedOutput()
	if err != nil {
		t.Fatalf("onnx_node_tests.py: %v: %s", err, out)
	}
	return dir
}

func TestONNXNodeTests(t *testing.T) {
	results := runSuite(t, filepath.Join(nodeTests(t), "node"), 100)
	if os.Getenv("LENETKIT_WRITE_NODE_TABLE") == "1" {
		path := filepath.Join(testtool.RepoRoot(), "docs", "onnx-node-tests.md")
		if err := os.WriteFile(path, []byte(nodeTable(results, onnxSuite)), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", path)
	}
}

// runSuite runs every node test under root (test_*/ folders) through
// lenetkit and gorgonnx, fails the test on every lenetkit failure of a
// claimed operator, and returns the results; fewer than least tests is a
// suite that was not written.
func runSuite(t *testing.T, root string, least int) []nodeResult {
	ents, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var results []nodeResult
	ops := map[string]string{} // test -> operator, for the _expanded ones
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "test_") {
			continue
		}
		r := runNodeTest(filepath.Join(root, e.Name()))
		ops[r.test] = r.op
		results = append(results, r)
	}
	var ggDirs []string
	for _, r := range results {
		if r.ggRun {
			ggDirs = append(ggDirs, filepath.Join(root, r.test))
		}
	}
	gg := runGorgonnxAll(t, ggDirs)
	for i, r := range results {
		if g, ok := gg[filepath.Join(root, r.test)]; ok {
			results[i].gg, results[i].ggWhy = g.O, g.Why
		}
	}
	if len(results) < least {
		t.Fatalf("%d node tests in %s, want at least %d", len(results), root, least)
	}
	// An expanded test (a function operator as the graph of its body) is
	// counted under the operator it expands.
	for i, r := range results {
		if base, ok := strings.CutSuffix(r.test, "_expanded"); ok && ops[base] != "" {
			results[i].op = ops[base]
		}
	}
	if testing.Verbose() {
		for _, r := range results {
			if r.gg == fail {
				t.Logf("gorgonnx fails %s (%s): %s", r.test, r.op, r.ggWhy)
			}
		}
	}
	var counts [2][3]int
	for _, r := range results {
		counts[0][r.lk]++
		counts[1][r.gg]++
		if r.lk == fail && r.claimed {
			t.Errorf("%s (%s): %s", r.test, r.op, r.lkWhy)
		}
	}
	t.Logf("%d node tests in %v: lenetkit %d pass, %d fail, %d n.a.; gorgonnx %d pass, %d fail, %d n.a.",
		len(results), time.Since(start).Round(time.Millisecond), counts[0][pass], counts[0][fail], counts[0][notApplicable],
		counts[1][pass], counts[1][fail], counts[1][notApplicable])
	return results
}

// suite describes where a table's tests come from, for its heading.
type suite struct {
	title, source, command string
}

var onnxSuite = suite{
	title:   "ONNX's node tests",
	source:  "The ONNX project's own backend node tests (python3-onnx 1.12, written by\n`reference/onnx_node_tests.py`)",
	command: "LENETKIT_WRITE_NODE_TABLE=1 go test ./onnx/backend -run TestONNXNodeTests",
}

// nodeCase is a node test's model and first data set.
type nodeCase struct {
	model    *onnx.Model
	ins      []*onnx.Tensor
	wants    []*onnx.Tensor
	modelErr error
}

func readNodeCase(dir string) (*nodeCase, error) {
	c := &nodeCase{}
	c.model, c.modelErr = onnx.Load(filepath.Join(dir, "model.onnx"))
	data := filepath.Join(dir, "test_data_set_0")
	for _, kind := range []string{"input", "output"} {
		for i := 0; ; i++ {
			path := filepath.Join(data, kind+"_"+strconv.Itoa(i)+".pb")
			if _, err := os.Stat(path); err != nil {
				break
			}
			x, err := tensorfile.Read(path)
			if err != nil {
				return c, fmt.Errorf("%s_%d.pb: %s", kind, i, strings.ReplaceAll(err.Error(), path+": ", ""))
			}
			if kind == "input" {
				c.ins = append(c.ins, x)
			} else {
				c.wants = append(c.wants, x)
			}
		}
	}
	return c, nil
}

func runNodeTest(dir string) nodeResult {
	r := nodeResult{test: filepath.Base(dir), lk: notApplicable, gg: notApplicable}
	c, dataErr := readNodeCase(dir)
	if c.modelErr != nil {
		r.op = "?"
		r.lkWhy = "model: " + firstLine(c.modelErr)
		r.ggWhy = r.lkWhy
		return r
	}
	g := c.model.Graph
	var opTypes []string
	for _, n := range g.Nodes {
		if !slices.Contains(opTypes, n.OpType) {
			opTypes = append(opTypes, n.OpType)
		}
	}
	r.op = strings.Join(opTypes, "+")
	if len(g.Nodes) == 1 {
		r.op = g.Nodes[0].OpType
	}
	// Whether the values are all float32 tensors, as Run takes and gives,
	// or, in a graph of quantized operators, integer tensors of their types.
	quant := quantized(g)
	dtypeWhy := ""
	for i, v := range append(slices.Clone(g.Inputs), g.Outputs...) {
		if i < len(g.Inputs) && isInteger(v.DType) {
			continue // given as a constant (Options.Constants), as lenetkit run does
		}
		if v.DType == 0 {
			// A sequence, map or optional: its .pb is not a TensorProto.
			dtypeWhy = fmt.Sprintf("not a tensor (%s)", v.Name)
			break
		}
		if v.DType != onnx.Float && !(quant && isQuantized(v.DType)) {
			dtypeWhy = fmt.Sprintf("dtype %s (%s)", v.DType, v.Name)
			break
		}
	}
	switch {
	case dtypeWhy != "":
	case dataErr != nil:
		dtypeWhy = "data: " + firstLine(dataErr)
	case len(c.ins) != len(g.Inputs) || len(c.wants) != len(g.Outputs):
		dtypeWhy = fmt.Sprintf("%d input and %d output files for %d inputs and %d outputs", len(c.ins), len(c.wants), len(g.Inputs), len(g.Outputs))
	default:
		for i, x := range append(slices.Clone(c.ins), c.wants...) {
			if x.DType != onnx.Float && !(i < len(c.ins) && isInteger(x.DType)) && !(quant && isQuantized(x.DType)) {
				file := fmt.Sprintf("input_%d.pb", i)
				if i >= len(c.ins) {
					file = fmt.Sprintf("output_%d.pb", i-len(c.ins))
				}
				dtypeWhy = fmt.Sprintf("dtype %s (%s)", x.DType, file)
				break
			}
		}
	}
	var unsupported []string
	for _, n := range g.Nodes {
		if !backend.Supported(n.OpType) && !slices.Contains(unsupported, n.OpType) {
			unsupported = append(unsupported, n.OpType)
		}
	}
	switch {
	case len(unsupported) > 0:
		r.lkWhy = "unsupported operator " + strings.Join(unsupported, ", ")
	case dtypeWhy != "":
		r.lkWhy = dtypeWhy
	default:
		r.claimed = true
		r.lk, r.lkWhy = runLenetkit(filepath.Join(dir, "model.onnx"), g, c)
	}
	r.ggWhy = dtypeWhy
	r.ggRun = dtypeWhy == "" && !quant
	if quant && dtypeWhy == "" {
		r.ggWhy = "quantized operators (onnx-go has none)"
	}
	return r
}

func runLenetkit(path string, g *onnx.Graph, c *nodeCase) (o outcome, why string) {
	defer func() {
		if p := recover(); p != nil {
			o, why = fail, fmt.Sprintf("panic: %v", p)
		}
	}()
	shapes, constants := map[string][]int{}, map[string]*onnx.Tensor{}
	params := quantParams(g)
	var ins [][]float32
	for i, v := range g.Inputs {
		if isInteger(c.ins[i].DType) || params[v.Name] {
			constants[v.Name] = c.ins[i]
			continue
		}
		shapes[v.Name] = c.ins[i].Shape
		ins = append(ins, c.ins[i].Floats())
	}
	p, err := backend.OpenOptions(path, backend.Options{Shapes: shapes, Constants: constants, ReadOptions: modelfile.ReadOptions{AllowNonFinite: true}})
	if errors.Is(err, onnx.ErrUnsupported) {
		return notApplicable, modelReason(err, path)
	}
	if err != nil {
		return fail, modelReason(err, path)
	}
	outs, err := p.Run(ins)
	if err != nil {
		return fail, "run: " + firstLine(err)
	}
	res := p.Results()
	if len(outs) != len(c.wants) {
		return fail, fmt.Sprintf("%d outputs, want %d", len(outs), len(c.wants))
	}
	for i, want := range c.wants {
		got := &onnx.Tensor{DType: onnx.Float, Shape: res[i].Shape, Float: outs[i]}
		rtol, atol := tensorfile.RTol, tensorfile.ATol
		if isQuantized(want.DType) {
			rtol, atol = 0, 0 // integers, exactly
		}
		if err := tensorfile.Compare(got, want, rtol, atol); err != nil {
			return fail, fmt.Sprintf("output %s: %v", g.Outputs[i].Name, err)
		}
	}
	return pass, ""
}

// quantOpParams are, for each quantized operator, its inputs that are
// not the data it quantizes or multiplies: scales, zero points, biases
// and weights, which quantized models store as initializers and the
// backend reads at compile time. The node tests make them graph inputs;
// runLenetkit gives them as constants (Options.Constants).
var quantOpParams = map[string][]int{
	"QuantizeLinear": {1, 2}, "DequantizeLinear": {1, 2},
	"QLinearConv": {1, 2, 3, 4, 5, 6, 7, 8}, "ConvInteger": {1, 2, 3},
	"QLinearMatMul": {1, 2, 3, 4, 5, 6, 7}, "MatMulInteger": {1, 2, 3},
}

// integerOps are the other operators the backend runs on 8-bit values.
var integerOps = map[string]bool{"DynamicQuantizeLinear": true, "MaxPool": true, "Relu": true, "Transpose": true,
	"Cast": true, "Reshape": true, "Flatten": true, "Squeeze": true, "Unsqueeze": true, "Identity": true}

// quantized reports whether every operator of g reads or writes
// integer tensors in the backend (a quantized one, or one integerOps
// names), and one of them is quantized or reads an 8-bit input: then its
// tests of uint8, int8 and int32 tensors apply.
func quantized(g *onnx.Graph) bool {
	quant := slices.ContainsFunc(g.Inputs, func(v *onnx.Value) bool { return v.DType == onnx.Uint8 || v.DType == onnx.Int8 })
	for _, n := range g.Nodes {
		_, q := quantOpParams[n.OpType]
		if !q && !integerOps[n.OpType] {
			return false
		}
		quant = quant || q || n.OpType == "DynamicQuantizeLinear"
	}
	return quant
}

// quantParams names g's inputs that quantOpParams makes constants.
func quantParams(g *onnx.Graph) map[string]bool {
	p := map[string]bool{}
	for _, n := range g.Nodes {
		for _, i := range quantOpParams[n.OpType] {
			if in := n.Input(i); in != "" {
				p[in] = true
			}
		}
	}
	return p
}

// isQuantized reports whether d is a type of the quantized operators'
// tensors, which Run takes and gives as float32 numbers.
func isQuantized(d onnx.DType) bool {
	return d == onnx.Uint8 || d == onnx.Int8 || d == onnx.Int32
}

// gorgonnx runs in a worker process, this test binary started again with
// LENETKIT_GORGONNX_WORKER=1: Gorgonia panics in goroutines of its own on
// some graphs, which no recover reaches. A test the worker dies or hangs
// on fails with the panic's message, and a new worker takes the rest.
const gorgonnxWorkerEnv = "LENETKIT_GORGONNX_WORKER"

type gorgonnxResult struct {
	Test string  `json:"test"`
	O    outcome `json:"outcome"`
	Why  string  `json:"why"`
}

// runGorgonnxAll runs the tests in dirs through gorgonnx, in workers.
func runGorgonnxAll(t *testing.T, dirs []string) map[string]gorgonnxResult {
	out := map[string]gorgonnxResult{}
	for pending := dirs; len(pending) > 0; {
		cmd := exec.Command(os.Args[0], "-test.run=^TestNodeTestsGorgonnxWorker$", "-test.count=1")
		cmd.Env = append(os.Environ(), gorgonnxWorkerEnv+"=1")
		cmd.Stdin = strings.NewReader(strings.Join(pending, "\n") + "\n")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string)
		go func() {
			sc := bufio.NewScanner(stdout)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		current, why := "", ""
		timer := time.NewTimer(gorgonnxTimeout)
	read:
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					break read
				}
				if name, ok := strings.CutPrefix(line, "nodetest-start "); ok {
					current = name
					timer.Reset(gorgonnxTimeout)
				} else if js, ok := strings.CutPrefix(line, "nodetest-result "); ok {
					var r gorgonnxResult
					if err := json.Unmarshal([]byte(js), &r); err != nil {
						t.Fatalf("gorgonnx worker: %v: %s", err, js)
					}
					out[r.Test] = r
					current = ""
				}
			case <-timer.C:
				why = fmt.Sprintf("no result in %v", gorgonnxTimeout)
				cmd.Process.Kill()
				for range lines {
				}
				break read
			}
		}
		timer.Stop()
		cmd.Wait()
		if current == "" {
			// Every test the worker started has its result.
			var rest []string
			for _, d := range pending {
				if _, ok := out[d]; !ok {
					rest = append(rest, d)
				}
			}
			if len(rest) > 0 {
				t.Fatalf("gorgonnx worker stopped before %s: %s", rest[0], lastLines(stderr.String()))
			}
			break
		}
		if why == "" {
			why = "crashed: " + panicLine(stderr.String())
		}
		out[current] = gorgonnxResult{Test: current, O: fail, Why: why}
		i := slices.Index(pending, current)
		pending = pending[i+1:]
	}
	return out
}

// panicLine is the "panic: ..." line of a crashed process's output.
func panicLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "panic: ") || strings.HasPrefix(l, "fatal error: ") {
			return strings.TrimSpace(l)
		}
	}
	return lastLines(s)
}

func lastLines(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// TestNodeTestsGorgonnxWorker is TestONNXNodeTests' gorgonnx worker: it
// reads test folders, one a line, and prints each one's result.
func TestNodeTestsGorgonnxWorker(t *testing.T) {
	if os.Getenv(gorgonnxWorkerEnv) != "1" {
		t.Skip("runs only as TestONNXNodeTests' gorgonnx worker")
	}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		dir := sc.Text()
		if dir == "" {
			continue
		}
		fmt.Printf("nodetest-start %s\n", dir)
		r := gorgonnxResult{Test: dir}
		c, err := readNodeCase(dir)
		switch {
		case err != nil:
			r.O, r.Why = fail, err.Error()
		case c.modelErr != nil:
			r.O, r.Why = fail, c.modelErr.Error()
		default:
			r.O, r.Why = gorgonnxRun(filepath.Join(dir, "model.onnx"), c)
		}
		b, _ := json.Marshal(r)
		fmt.Printf("nodetest-result %s\n", b)
	}
}

func gorgonnxRun(path string, c *nodeCase) (o outcome, why string) {
	defer func() {
		if p := recover(); p != nil {
			o, why = fail, fmt.Sprintf("panic: %v", p)
		}
	}()
	b, err := os.ReadFile(path)
	if err != nil {
		return fail, err.Error()
	}
	g := gorgonnx.NewGraph()
	m := onnxgo.NewModel(g)
	if err := m.UnmarshalBinary(b); err != nil {
		return gorgonnxErr("unmarshal", err)
	}
	for i, x := range c.ins {
		var in tensor.Tensor
		if len(x.Shape) == 0 {
			in = tensor.New(tensor.FromScalar(x.Float[0]))
		} else {
			in = tensor.New(tensor.WithShape(x.Shape...), tensor.WithBacking(slices.Clone(x.Float)))
		}
		if err := m.SetInput(i, in); err != nil {
			return fail, "input: " + firstLine(err)
		}
	}
	if err := g.Run(); err != nil {
		return gorgonnxErr("run", err)
	}
	outs, err := m.GetOutputTensors()
	if err != nil {
		return fail, "outputs: " + firstLine(err)
	}
	if len(outs) != len(c.wants) {
		return fail, fmt.Sprintf("%d outputs, want %d", len(outs), len(c.wants))
	}
	for i, want := range c.wants {
		var vals []float32
		switch d := outs[i].Data().(type) {
		case []float32:
			vals = d
		case float32:
			vals = []float32{d}
		default:
			return fail, fmt.Sprintf("output %d is %T", i, d)
		}
		shape := []int(outs[i].Shape())
		if outs[i].IsScalar() {
			shape = []int{}
		}
		got := &onnx.Tensor{DType: onnx.Float, Shape: shape, Float: vals}
		if err := tensorfile.Compare(got, want, tensorfile.RTol, tensorfile.ATol); err != nil {
			return fail, fmt.Sprintf("output %d: %v", i, err)
		}
	}
	return pass, ""
}

// gorgonnxErr is an error of onnx-go's: not applicable for an operator or
// attribute it says it does not implement, else a failure.
func gorgonnxErr(stage string, err error) (outcome, string) {
	var ni *onnxgo.ErrNotImplemented
	if errors.As(err, &ni) {
		return notApplicable, firstLine(err)
	}
	return fail, stage + ": " + firstLine(err)
}

// modelReason is an error about the model at path without the path,
// which is a temporary folder's.
func modelReason(err error, path string) string {
	s := strings.TrimPrefix(firstLine(err), "onnx: "+path+": ")
	return strings.ReplaceAll(s, path, "model.onnx")
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return strings.TrimSpace(s)
}

// nodeTable is docs/onnx-node-tests.md.
func nodeTable(results []nodeResult, su suite) string {
	type row struct {
		op       string
		n        int
		lk, gg   [3]int
		claimed  bool
		naWhy    []string
		failures []nodeResult
	}
	rows := map[string]*row{}
	var total [2][3]int
	for _, r := range results {
		w := rows[r.op]
		if w == nil {
			w = &row{op: r.op}
			rows[r.op] = w
		}
		w.n++
		w.lk[r.lk]++
		w.gg[r.gg]++
		total[0][r.lk]++
		total[1][r.gg]++
		if backend.Supported(r.op) {
			w.claimed = true
		}
		if r.lk == fail {
			w.failures = append(w.failures, r)
		}
		if r.lk == notApplicable {
			why := r.lkWhy
			if r.claimed { // refused at compile: the reason is per test
				why = "compile refuses some"
			}
			if !slices.Contains(w.naWhy, why) {
				w.naWhy = append(w.naWhy, why)
			}
		}
	}
	sorted := make([]*row, 0, len(rows))
	for _, w := range rows {
		sorted = append(sorted, w)
	}
	slices.SortFunc(sorted, func(a, b *row) int { return cmp.Compare(a.op, b.op) })

	var s strings.Builder
	fmt.Fprintf(&s, "# %s\n\n%s, each one operator's graph with its\n", su.title, su.source)
	s.WriteString(`inputs and expected outputs, run through lenetkit's whole-tensor plan
(` + "`backend.Options.Shapes`" + `, what ` + "`lenetkit run`" + ` uses) and through onnx-go's gorgonnx,
compared at ONNX's tolerances (rtol 1e-3, atol 1e-7, as
numpy.testing.assert_allclose). Written by
`)
	fmt.Fprintf(&s, "`%s`.\n", su.command)
	s.WriteString(`
A test applies to lenetkit when every operator in its graph is one the
backend claims (` + "`backend.Supported`" + `) and every input and output is a
float32 tensor, or, in a graph of quantized operators (and of MaxPool,
Relu, Transpose, Cast and the reshapes on 8-bit tensors), a uint8, int8 or
int32 one: 8-bit inputs are fed as numbers, the quantized operators'
scales, zero points and weights are given as constants, as quantized
models store them (initializers), and integer outputs must match exactly.
A plan that refuses a test as unsupported (an attribute or a
type outside what the operator claims) makes it not applicable. gorgonnx
runs every float32 test; an operator or attribute it reports as not
implemented is not applicable. An ` + "`_expanded`" + ` test (a function operator's
body as a graph) is counted under the operator it expands. Claimed: the
backend supports the operator.

`)
	fmt.Fprintf(&s, "%d tests: lenetkit %d pass, %d fail, %d not applicable; gorgonnx %d pass, %d fail, %d not applicable.\n\n",
		len(results), total[0][pass], total[0][fail], total[0][notApplicable], total[1][pass], total[1][fail], total[1][notApplicable])
	s.WriteString("| operator | claimed | tests | lenetkit pass | fail | n.a. | gorgonnx pass | fail | n.a. | lenetkit n.a. because |\n")
	s.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, w := range sorted {
		claimed := ""
		if w.claimed {
			claimed = "yes"
		}
		why := strings.Join(w.naWhy, "; ")
		if len(why) > 120 {
			why = why[:117] + "..."
		}
		fmt.Fprintf(&s, "| %s | %s | %d | %d | %d | %d | %d | %d | %d | %s |\n", w.op, claimed, w.n,
			w.lk[pass], w.lk[fail], w.lk[notApplicable], w.gg[pass], w.gg[fail], w.gg[notApplicable], mdEscape(why))
	}
	s.WriteString("\n## lenetkit's failures\n\n")
	any := false
	for _, w := range sorted {
		for _, r := range w.failures {
			fmt.Fprintf(&s, "- %s (%s): %s\n", r.test, w.op, mdEscape(r.lkWhy))
			any = true
		}
	}
	if !any {
		s.WriteString("None.\n")
	}
	s.WriteString("\n## Refused at compile as unsupported\n\nTests whose operators are all claimed but whose plan refuses an attribute or type.\n\n")
	any = false
	for _, r := range sortedResults(results) {
		if r.claimed && r.lk == notApplicable {
			fmt.Fprintf(&s, "- %s (%s): %s\n", r.test, r.op, mdEscape(r.lkWhy))
			any = true
		}
	}
	if !any {
		s.WriteString("None.\n")
	}
	return s.String()
}

func sortedResults(rs []nodeResult) []nodeResult {
	out := slices.Clone(rs)
	slices.SortFunc(out, func(a, b nodeResult) int { return cmp.Or(cmp.Compare(a.op, b.op), cmp.Compare(a.test, b.test)) })
	return out
}

// mdEscape keeps a reason inside its table cell or list item.
func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "|", "\\|")
	return strings.ReplaceAll(s, "\n", " ")
}

// isInteger reports whether an input of type d is fed as a constant: the
// shapes, axes, indices and pads of ONNX's tests are int64 graph inputs.
func isInteger(d onnx.DType) bool {
	return d == onnx.Int64 || d == onnx.Int32
}
