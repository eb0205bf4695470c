package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/bench"
	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/onnx"
)

// TestBench runs a short `lenetkit bench` and checks the JSON carries
// lenetkit's figures and, when the peers are installed, theirs and the
// ratios computed from them.
func TestBench(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs PyTorch and ONNX Runtime for several seconds")
	}
	testtool.RequirePython(t, "torch")
	testtool.RequireORT(t)
	r := run(t, "bench", "--steps", "3", "--seconds", "0.2", "--rounds", "1", "--format", "json", "--reference", testtool.Reference(""))
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v:\n%s", err, r.stdout)
	}
	for _, k := range []string{"train_ms_per_step", "infer_images_per_s_batch1", "infer_images_per_s_batch128",
		"pytorch_train_ms_per_step", "onnxruntime_images_per_s_batch1", "onnxruntime_images_per_s_batch128", "peak_rss_bytes"} {
		if v, ok := rep[k].(float64); !ok || v <= 0 {
			t.Errorf("%s = %v, want a positive figure", k, rep[k])
		}
	}
	ratio, _ := rep["ratio_train_ms_vs_pytorch"].(float64)
	ours, _ := rep["train_ms_per_step"].(float64)
	theirs, _ := rep["pytorch_train_ms_per_step"].(float64)
	if theirs > 0 && (ratio < 0.999*ours/theirs || ratio > 1.001*ours/theirs) {
		t.Errorf("ratio %g, but %g / %g = %g", ratio, ours, theirs, ours/theirs)
	}
	if rounds, _ := rep["inference_rounds"].(float64); rounds != 1 {
		t.Errorf("inference_rounds = %v, want --rounds 1", rep["inference_rounds"])
	}
	best, _ := rep["infer_images_per_s_batch128"].(float64)
	ort, _ := rep["onnxruntime_images_per_s_batch128"].(float64)
	if got, _ := rep["ratio_infer_batch128_vs_onnxruntime"].(float64); ort > 0 && (got < 0.999*best/ort || got > 1.001*best/ort) {
		t.Errorf("batch-128 ratio %g, but %g / %g = %g", got, best, ort, best/ort)
	}
	if nm, ok := rep["not_measured"]; ok {
		t.Errorf("peers not measured: %v", nm)
	}
}

// TestBenchGraphTraining: bench --model FILE --steps times the graph's
// training in rounds, and a PyTorch whose scripts are not in --reference
// is reported as not measured, with no figure and no ratio.
func TestBenchGraphTraining(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("trains cnn28 for 12 steps")
	}
	r := run(t, "bench", "--model", testtool.Testdata("onnx/cnn28.onnx"), "--steps", "3", "--seconds", "0.03",
		"--format", "json", "--reference", t.TempDir())
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v:\n%s", err, r.stdout)
	}
	if !rep.TrainGraph || rep.TrainRounds != benchRounds || rep.TrainMSPerStep <= 0 {
		t.Errorf("graph %v, %d rounds, %g ms a step: want %d rounds of the graph", rep.TrainGraph, rep.TrainRounds, rep.TrainMSPerStep, benchRounds)
	}
	if rep.PyTorchTrainMSPerStep != 0 || rep.RatioTrainVsPyTorch != 0 || !slices.ContainsFunc(rep.NotMeasured, func(l string) bool {
		return strings.HasPrefix(l, bench.PeerPyTorch+" not measured")
	}) {
		t.Errorf("PyTorch %g ms, ratio %g, not measured %q: want no figures and a line saying why", rep.PyTorchTrainMSPerStep, rep.RatioTrainVsPyTorch, rep.NotMeasured)
	}
}

// TestBenchBaseline: --baseline times the int8 --model beside a float
// model (a .pth, written as ONNX) turn about, and reports both figures at
// batch 1 and 128, their ratios, the CPU and load, and the kernels; ONNX
// Runtime, whose scripts are not in --reference here, is reported as not
// measured, its figures and ratios left out.
func TestBenchBaseline(t *testing.T) {
	t.Parallel()
	q := testtool.Testdata("quant/seed_qdq_channel.onnx")
	if _, err := os.Stat(q); err != nil {
		testtool.Missing(t, "testdata/quant/seed_qdq_channel.onnx")
	}
	dir := t.TempDir()
	// One round: the figures and ratios are there after one as after
	// three, for a third of the turns.
	r := run(t, "bench", "--model", q, "--baseline", testtool.Testdata("lenet_trained.pth"), "--steps", "0", "--seconds", "0.06", "--rounds", "1",
		"--format", "json", "--reference", dir, "--data", filepath.Join(dir, "no-mnist"))
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v:\n%s", err, r.stdout)
	}
	m := rep.Int8
	if m == nil {
		t.Fatalf("no int8_vs_float in\n%s", r.stdout)
	}
	if m.Int8Batch1 <= 0 || m.Int8Batch128 <= 0 || m.FloatBatch1 <= 0 || m.FloatBatch128 <= 0 {
		t.Errorf("figures %+v", m)
	}
	if got, want := m.RatioInt8VsFloatBatch128, m.Int8Batch128/m.FloatBatch128; got < 0.999*want || got > 1.001*want {
		t.Errorf("ratio at batch 128 %g, want %g", got, want)
	}
	if m.CPU == "" || rep.CPU == "" || m.Int8Kernel == "" ||
		!strings.Contains(m.FloatKernels, "matrix products") || m.Baseline != testtool.Testdata("lenet_trained.pth") || m.Rounds != 1 {
		t.Errorf("cpu %q, kernels %q / %q, baseline %q, rounds %d (--rounds 1)", m.CPU, m.Int8Kernel, m.FloatKernels, m.Baseline, m.Rounds)
	}
	if m.ORTInt8Batch1 != 0 || m.RatioInt8VsORTBatch128 != 0 || !strings.Contains(strings.Join(rep.NotMeasured, "\n"), "ONNX Runtime not measured") {
		t.Errorf("ONNX Runtime without its scripts: %+v, not measured %q", m, rep.NotMeasured)
	}
	// The text form has the table.
	r = run(t, "bench", "--model", q, "--baseline", testtool.Testdata("lenet_trained.pth"), "--steps", "0", "--seconds", "0.03", "--rounds", "1",
		"--reference", dir, "--data", filepath.Join(dir, "no-mnist"))
	for _, want := range []string{"int8 against float", "lenetkit int8/float", "int8 kernel: ", "load average"} {
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Errorf("exit %d, no %q in\n%s%s", r.code, want, r.stdout, r.stderr)
		}
	}
	if r := run(t, "bench", "--model", q, "--baseline", filepath.Join(dir, "missing.pth"), "--steps", "0"); r.code == 0 {
		t.Error("a missing --baseline accepted")
	}
}

// TestBenchBaselineORT runs --baseline with ONNX Runtime: its figures on
// both files, and the ratios of lenetkit's int8 to them.
func TestBenchBaselineORT(t *testing.T) {
	t.Parallel()
	testtool.SkipShort(t)
	testtool.RequireORT(t)
	q := testtool.Testdata("quant/seed_qdq_channel.onnx")
	if _, err := os.Stat(q); err != nil {
		testtool.Missing(t, "testdata/quant/seed_qdq_channel.onnx")
	}
	dir := t.TempDir()
	r := run(t, "bench", "--model", q, "--baseline", testtool.Testdata("lenet_trained.pth"), "--steps", "0", "--seconds", "0.2",
		"--rounds", "1", "--format", "json", "--reference", testtool.Reference(""), "--data", filepath.Join(dir, "no-mnist"))
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v:\n%s", err, r.stdout)
	}
	m := rep.Int8
	if m == nil || m.ORTInt8Batch1 <= 0 || m.ORTInt8Batch128 <= 0 || m.ORTFloat1 <= 0 || m.ORTFloat128 <= 0 || m.RatioInt8VsORTBatch1 <= 0 {
		t.Errorf("int8 against float with ONNX Runtime: %+v", m)
	}
}

// TestBenchFlatInputORT: an MLP whose input is the image flattened,
// [batch, 784], is timed against ONNX Runtime at both batches and over the
// whole evaluation, its images fed flat.
func TestBenchFlatInputORT(t *testing.T) {
	t.Parallel()
	testtool.SkipShort(t)
	testtool.RequireORT(t)
	r := run(t, "bench", "--model", testtool.Testdata("onnx/mlp_flat.onnx"), "--steps", "0", "--seconds", "0.1",
		"--rounds", "1", "--format", "json", "--reference", testtool.Reference(""), "--data", realData(t))
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v:\n%s", err, r.stdout)
	}
	if rep.ORTImagesPerSBatch1 <= 0 || rep.ORTImagesPerSBatch128 <= 0 || rep.ORTEvalSeconds <= 0 || rep.EvalSeconds <= 0 {
		t.Errorf("ONNX Runtime %g / %g images/s, evaluation %g s against lenetkit's %g s; not measured: %q",
			rep.ORTImagesPerSBatch1, rep.ORTImagesPerSBatch128, rep.ORTEvalSeconds, rep.EvalSeconds, rep.NotMeasured)
	}
	// Both sides' figures of the evaluation, ONNX Runtime's from its own
	// outputs, are those reference/onnx_zoo.py recorded for the file.
	models, _ := zoo(t)
	want := models["mlp_flat"]
	for _, side := range []struct {
		name           string
		accuracy, loss float64
	}{{"lenetkit", rep.EvalAccuracy, rep.EvalLoss}, {"ONNX Runtime", rep.ORTEvalAccuracy, rep.ORTEvalLoss}} {
		if math.Abs(side.accuracy-want.Accuracy) > 1e-9 || math.Abs(side.loss-want.Loss) > 1e-4 {
			t.Errorf("bench's evaluation, %s: %.2f %%, loss %.6f; expected.json: %.2f %%, %.6f", side.name, side.accuracy, side.loss, want.Accuracy, want.Loss)
		}
	}
}

func TestOutputFigures(t *testing.T) {
	ln := func(p float64) float32 { return float32(math.Log(p)) }
	for _, tc := range []struct {
		name          string
		y             []float32
		labels        []int64
		probabilities bool
		accuracy      float64
		loss          float64
	}{
		{"logits", []float32{2, 0, 0, 1}, []int64{0, 0}, false, 50, (math.Log(1+math.Exp(-2)) + 1 + math.Log(1+math.Exp(-1))) / 2},
		{"log-probabilities", []float32{ln(0.75), ln(0.25), ln(0.5), ln(0.5)}, []int64{1, 0}, false, 50, -(math.Log(0.25) + math.Log(0.5)) / 2},
		{"probabilities", []float32{0.75, 0.25, 0.1, 0.9}, []int64{0, 1}, true, 100, -(math.Log(0.75) + math.Log(0.9)) / 2},
		{"a label's probability of 0", []float32{1, 0}, []int64{1}, true, 0, -math.Log(math.SmallestNonzeroFloat32)},
	} {
		acc, loss := outputFigures(tc.y, tc.labels, 2, tc.probabilities)
		if acc != tc.accuracy || math.Abs(loss-tc.loss) > 1e-6 {
			t.Errorf("%s: %.2f %%, loss %.6f; want %.2f %%, %.6f", tc.name, acc, loss, tc.accuracy, tc.loss)
		}
	}
}

// TestBenchFixedBatchORT: a graph whose file fixes its batch at 1 is timed
// against ONNX Runtime at batch 1 and over the whole evaluation (a batch
// of 1 at a time); batch 128, which ONNX Runtime refuses for that file,
// is said not measured and why, where lenetkit measures it.
func TestBenchFixedBatchORT(t *testing.T) {
	t.Parallel()
	testtool.SkipShort(t)
	testtool.RequireORT(t)
	rep, why := quickBench(t, fixedBatchCNN(t, 1))
	if rep.ORTImagesPerSBatch1 <= 0 || rep.ORTImagesPerSBatch128 != 0 || rep.InferImagesPerSBatch128 <= 0 || rep.ORTEvalSeconds <= 0 ||
		!strings.Contains(why, "ONNX Runtime at batch 128 not measured: the file fixes its batch at 1") {
		t.Errorf("ONNX Runtime %g / %g images/s (lenetkit at 128: %g), evaluation %g s; not measured:\n%s",
			rep.ORTImagesPerSBatch1, rep.ORTImagesPerSBatch128, rep.InferImagesPerSBatch128, rep.ORTEvalSeconds, why)
	}
}

// fixedBatchCNN writes testdata/onnx/cnn28.onnx with its input's batch
// fixed at batch, as torch exports a model without dynamic_axes, and
// returns its path.
func fixedBatchCNN(t *testing.T, batch int64) string {
	t.Helper()
	pm, err := onnx.Read(testtool.Testdata("onnx/cnn28.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	pm.Graph.Input[0].Type.GetTensorType().Shape.Dim[0].Value = &onnx.TensorShapeProto_Dimension_DimValue{DimValue: batch}
	path := filepath.Join(t.TempDir(), fmt.Sprintf("fixed%d.onnx", batch))
	if err := onnx.Write(path, pm); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestBenchPeerInputs: bench measures ONNX Runtime, inference and the
// evaluation, on a graph whose weights are in an external file (torch's
// dynamo exports' default) and on one of [batch, 28, 28] inputs (Keras's
// Flatten(input_shape=(28, 28)) through tf2onnx), each cnn28 rewritten so.
func TestBenchPeerInputs(t *testing.T) {
	t.Parallel()
	testtool.SkipShort(t)
	testtool.RequireORT(t)
	dir := t.TempDir()
	external := func() string {
		pm, err := onnx.Read(testtool.Testdata("onnx/cnn28.onnx"))
		if err != nil {
			t.Fatal(err)
		}
		var blob bytes.Buffer
		for _, init := range pm.Graph.Initializer {
			raw := init.RawData
			if len(raw) == 0 {
				continue
			}
			init.ExternalData = []*onnx.StringStringEntryProto{{Key: "location", Value: "weights.bin"},
				{Key: "offset", Value: fmt.Sprint(blob.Len())}, {Key: "length", Value: fmt.Sprint(len(raw))}}
			init.DataLocation, init.RawData = onnx.TensorProto_EXTERNAL, nil
			blob.Write(raw)
		}
		if blob.Len() == 0 {
			t.Fatal("cnn28.onnx has no raw initializers to move out")
		}
		if err := os.WriteFile(filepath.Join(dir, "weights.bin"), blob.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "external.onnx")
		if err := onnx.Write(path, pm); err != nil {
			t.Fatal(err)
		}
		return path
	}
	plane := func() string {
		pm, err := onnx.Read(testtool.Testdata("onnx/cnn28.onnx"))
		if err != nil {
			t.Fatal(err)
		}
		in := pm.Graph.Input[0]
		dims := in.Type.GetTensorType().Shape.Dim
		in.Type.GetTensorType().Shape.Dim = append(dims[:1:1], dims[2:]...)
		pm.Graph.Node = append([]*onnx.NodeProto{{OpType: "Unsqueeze", Input: []string{"plane", "plane_axes"}, Output: []string{in.Name}}}, pm.Graph.Node...)
		pm.Graph.Initializer = append(pm.Graph.Initializer, &onnx.TensorProto{Name: "plane_axes", Dims: []int64{1}, DataType: int32(onnx.TensorProto_INT64), Int64Data: []int64{1}})
		in.Name = "plane"
		path := filepath.Join(dir, "plane.onnx")
		if err := onnx.Write(path, pm); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for name, model := range map[string]string{"external data": external(), "[batch, 28, 28]": plane()} {
		if rep, why := quickBench(t, model); rep.ORTImagesPerSBatch1 <= 0 || rep.ORTImagesPerSBatch128 <= 0 || rep.ORTEvalSeconds <= 0 || strings.Contains(why, "ONNX Runtime") {
			t.Errorf("%s: ONNX Runtime %g / %g images/s, evaluation %g s; not measured:\n%s", name, rep.ORTImagesPerSBatch1, rep.ORTImagesPerSBatch128, rep.ORTEvalSeconds, why)
		}
	}
}

// TestBenchOtherClassifier: bench times a classifier of other classes
// and input size than a digit's (3 classes of 22x22 images) at its own
// size, beside ONNX Runtime, and says why MNIST's evaluation is left out.
func TestBenchOtherClassifier(t *testing.T) {
	t.Parallel()
	testtool.SkipShort(t)
	testtool.RequireORT(t)
	rep, why := quickBench(t, bandModel(t))
	if rep.InferImagesPerSBatch1 <= 0 || rep.InferImagesPerSBatch128 <= 0 || rep.ORTImagesPerSBatch128 <= 0 ||
		!strings.Contains(why, "the evaluation of MNIST's test images not measured") || !strings.Contains(why, "eval --data") {
		t.Errorf("lenetkit %g / %g, ONNX Runtime %g images/s; not measured:\n%s", rep.InferImagesPerSBatch1, rep.InferImagesPerSBatch128, rep.ORTImagesPerSBatch128, why)
	}
}

// quickBench runs a short bench of model's inference (no training, one
// round of 0.1 s) and returns its report and what it did not measure, a
// line each.
func quickBench(t *testing.T, model string) (benchReport, string) {
	t.Helper()
	r := run(t, "bench", "--model", model, "--steps", "0", "--seconds", "0.1", "--rounds", "1", "--format", "json",
		"--reference", testtool.Reference(""), "--data", realData(t))
	if r.code != 0 {
		t.Fatalf("bench --model %s: exit %d:\n%s", model, r.code, r.stderr)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v:\n%s", err, r.stdout)
	}
	return rep, strings.Join(rep.NotMeasured, "\n")
}
