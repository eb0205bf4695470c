package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/infer"
	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/mnist"
	"github.com/lenetkit/lenetkit/onnx"
	"github.com/lenetkit/lenetkit/runlog"
)

// TestTrainModelAgreesWithONNXRuntime fine-tunes LeNet-5 from its ONNX
// file, then evaluates the file train wrote with lenetkit eval and with
// ONNX Runtime on the 10,000 test images: the same accuracy, and the same
// loss to 1e-4, say the graph was written with its new weights and its
// preprocessing, as ONNX Runtime reads it.
func TestTrainModelAgreesWithONNXRuntime(t *testing.T) {
	t.Parallel()
	testtool.SkipShort(t)
	testtool.RequireORT(t)
	data := realData(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "lenet5.onnx")
	r := run(t, "train", "--model", testtool.Testdata("onnx/lenet5.onnx"), "--data", data, "--epochs", "1", "--limit", "1280",
		"--batch-size", "64", "--out", filepath.Join(dir, "lenet5.safetensors"), "--format", "json")
	if r.code != 0 {
		t.Fatalf("train: exit %d: %s", r.code, r.stderr)
	}
	var trained struct {
		Model        string  `json:"model"`
		TestAccuracy float64 `json:"test_accuracy"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &trained); err != nil || trained.Model != out {
		t.Fatalf("train's summary %q (%v): want the model %s", r.stdout, err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "lenet5.safetensors")); err != nil {
		t.Errorf("the state dict beside the graph: %v", err)
	}
	r = run(t, "eval", out, "--data", data, "--format", "json")
	if r.code != 0 {
		t.Fatalf("eval: exit %d: %s", r.code, r.stderr)
	}
	var ev struct {
		Accuracy, Loss float64
		Images         int
	}
	if err := json.Unmarshal([]byte(r.stdout), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Accuracy != trained.TestAccuracy {
		t.Errorf("train tested %.2f %%, eval measures %.2f %%", trained.TestAccuracy, ev.Accuracy)
	}
	acc, loss := ortFigures(t, out, data)
	t.Logf("lenetkit eval: %.2f %%, loss %.6f; ONNX Runtime: %.2f %%, loss %.6f", ev.Accuracy, ev.Loss, acc, loss)
	if acc != ev.Accuracy || math.Abs(loss-ev.Loss) > 1e-4 {
		t.Errorf("ONNX Runtime: %.2f %%, loss %.6f; lenetkit eval: %.2f %%, loss %.6f", acc, loss, ev.Accuracy, ev.Loss)
	}
}

// TestTrainColourModel fine-tunes a model of 3 input channels trained on
// grey digits (cnn28_rgb.onnx, 98.30 %): train gives each grey image as 3
// equal channels, says so, keeps the model's accuracy (97 % or more: a
// step on images in the wrong channels loses it), and writes a graph of
// 3 channels whose figures train's test, lenetkit eval (which says so
// too) and ONNX Runtime, given the same channels, agree on.
func TestTrainColourModel(t *testing.T) {
	t.Parallel()
	testtool.SkipShort(t)
	testtool.RequireORT(t)
	data := realData(t)
	out := filepath.Join(t.TempDir(), "rgb.onnx")
	r := run(t, "train", "--model", testtool.Testdata("onnx/cnn28_rgb.onnx"), "--data", data, "--epochs", "1", "--limit", "640",
		"--mean", "0.5", "--std", "0.5", "--out", out, "--format", "json")
	if r.code != 0 {
		t.Fatalf("train: exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "3 equal channels") {
		t.Errorf("train did not say how it gives grey images to 3 channels:\n%s", r.stderr)
	}
	var trained struct {
		TestAccuracy float64 `json:"test_accuracy"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &trained); err != nil || trained.TestAccuracy < 97 {
		t.Fatalf("train's summary %q (%v): want a test accuracy of 97 %% or more", r.stdout, err)
	}
	r = run(t, "eval", out, "--data", data, "--format", "json")
	if r.code != 0 {
		t.Fatalf("eval: exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "3 equal channels") {
		t.Errorf("eval did not say how it gives grey images to 3 channels:\n%s", r.stderr)
	}
	var ev struct{ Accuracy, Loss float64 }
	if err := json.Unmarshal([]byte(r.stdout), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Accuracy != trained.TestAccuracy {
		t.Errorf("train tested %.2f %%, eval measures %.2f %%", trained.TestAccuracy, ev.Accuracy)
	}
	m, err := infer.Open(out, "")
	if err != nil {
		t.Fatal(err)
	}
	if m.Input != (infer.Geometry{Channels: 3, Height: 28, Width: 28}) || m.Preprocess.Mean != 0.5 || m.Preprocess.Std != 0.5 {
		t.Fatalf("the trained file takes %+v prepared %+v; want 3x28x28 and Normalize(0.5, 0.5)", m.Input, m.Preprocess)
	}
	acc, loss := ortFiguresOf(t, out, data, m)
	t.Logf("lenetkit eval: %.2f %%, loss %.6f; ONNX Runtime: %.2f %%, loss %.6f", ev.Accuracy, ev.Loss, acc, loss)
	if acc != ev.Accuracy || math.Abs(loss-ev.Loss) > 1e-4 {
		t.Errorf("ONNX Runtime: %.2f %%, loss %.6f; lenetkit eval: %.2f %%, loss %.6f", acc, loss, ev.Accuracy, ev.Loss)
	}
}

// ortFigures evaluates a graph taking MNIST's digits padded to 32x32 in
// ONNX Runtime on MNIST's test images: accuracy in percent, mean loss.
func ortFigures(t *testing.T, model, data string) (float64, float64) {
	t.Helper()
	return ortFiguresOf(t, model, data, nil)
}

// ortFiguresOf is ortFigures for a graph that takes the images as m,
// opened on it, takes them: cut to its size, normalised, in its channels
// (bench's modelInput); nil: padded to 32x32 as they are.
func ortFiguresOf(t *testing.T, model, data string, m *infer.Model) (float64, float64) {
	t.Helper()
	test, err := mnist.Load(data, "test", mnist.Options{SkipChecksum: true}) // data a test made, too
	if err != nil {
		t.Fatal(err)
	}
	idx := make([]int, test.N)
	for i := range idx {
		idx[i] = i
	}
	x, y := make([]float32, test.N*mnist.PixelCount), make([]int64, test.N)
	if err := test.Fill(idx, x, y); err != nil {
		t.Fatal(err)
	}
	job := testtool.ORTJob{Model: model, N: test.N, C: 1, H: mnist.Side, W: mnist.Side}
	if m != nil {
		g := m.Input
		x = modelInput(m, x, test.N, []int{g.Channels, g.Height, g.Width})
		job.C, job.H, job.W = g.Channels, g.Height, g.Width
	}
	if g, err := onnx.Load(model); err == nil && len(g.Graph.Inputs) > 0 && len(g.Graph.Inputs[0].Dims) > 0 && g.Graph.Inputs[0].Dims[0] > 0 {
		job.Batch = int(g.Graph.Inputs[0].Dims[0]) // an export without a dynamic batch
	}
	dir := t.TempDir()
	job.Input, job.Out = filepath.Join(dir, "x.f32"), filepath.Join(dir, "y.f32")
	if err := os.WriteFile(job.Input, float32Bytes(x), 0o644); err != nil {
		t.Fatal(err)
	}
	testtool.RunORT(t, []testtool.ORTJob{job})
	outPath := job.Out
	b, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	var correct int
	var loss float64
	for i := range test.N {
		row := make([]float64, mnist.Classes)
		best := 0
		for j := range row {
			row[j] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[(i*mnist.Classes+j)*4:])))
			if row[j] > row[best] {
				best = j
			}
		}
		if best == int(y[i]) {
			correct++
		}
		mx, s := row[best], 0.0
		for _, v := range row {
			s += math.Exp(v - mx)
		}
		loss += mx + math.Log(s) - row[y[i]]
	}
	return 100 * float64(correct) / float64(test.N), loss / float64(test.N)
}

func TestTrainModelBadInput(t *testing.T) {
	dir := t.TempDir()
	notONNX := filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(notONNX, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	lenet5 := testtool.Testdata("onnx/lenet5.onnx")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing", []string{"--model", filepath.Join(dir, "none.onnx")}, 1, "none.onnx"},
		{"not onnx", []string{"--model", notONNX}, 1, "model.onnx"},
		{"seed flag", []string{"--model", lenet5, "--recipe", "standard"}, 2, "--recipe with --model"},
		{"graph flag without model", []string{"--freeze", "conv"}, 2, "--freeze trains an ONNX graph"},
		{"bad freeze", []string{"--model", lenet5, "--freeze", "nosuch*", "--limit", "128", "--epochs", "1", "--out", filepath.Join(dir, "a.onnx")}, 1, "matches no trainable initializer"},
		{"bad out", []string{"--model", lenet5, "--out", filepath.Join(dir, "a.txt")}, 2, "--out"},
		{"few classes", []string{"--model", lenet5, "--classes", "1"}, 2, "--classes 1"},
		{"std 0", []string{"--model", lenet5, "--std", "0"}, 2, "--std 0"},
		{"mean without model", []string{"--mean", "0.5"}, 2, "--mean trains an ONNX graph"},
		{"quantized", []string{"--model", testtool.Testdata("quant/seed_qdq_tensor.onnx"), "--out", filepath.Join(dir, "q.onnx")}, 1,
			"is quantized (node 0 (QuantizeLinear \"input_QuantizeLinear\")): lenetkit trains float graphs: train its float original"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, append([]string{"train"}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(lastLineOf(r.stderr), tc.want) {
				t.Errorf("exit %d, stderr %q: want exit %d and a line with %q", r.code, r.stderr, tc.code, tc.want)
			}
			if strings.Contains(r.stderr, "goroutine") {
				t.Errorf("a stack trace: %s", r.stderr)
			}
		})
	}
}

func lastLineOf(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// TestTrainModelLogDir checks that a --model run keeps the run log the
// seed's runs keep, in the one format report reads, with the graph's own
// settings in config.json.
func TestTrainModelLogDir(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: trains a graph for four steps and evaluates it")
	}
	data := realData(t)
	dir := t.TempDir()
	logDir := filepath.Join(dir, "run")
	r := run(t, "train", "--model", testtool.Testdata("onnx/dwbn.onnx"), "--data", data, "--epochs", "1", "--limit", "256",
		"--batch-size", "64", "--out", filepath.Join(dir, "dwbn.onnx"), "--log-dir", logDir, "--freeze", "0")
	if r.code != 0 {
		t.Fatalf("train: exit %d: %s", r.code, r.stderr)
	}
	log, err := runlog.Read(logDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(log.Steps) != 4 || len(log.Epochs) != 1 || log.Test == nil || log.Test.Images != 10000 {
		t.Errorf("%d steps, %d epochs, test %+v: want 4 steps, 1 epoch and the 10,000 test images", len(log.Steps), len(log.Epochs), log.Test)
	}
	conf, err := runlog.ReadConfig(filepath.Join(logDir, runlog.ConfigName))
	if err != nil {
		t.Fatal(err)
	}
	var freeze []string
	if ok, err := conf.Get("freeze", &freeze); !ok || err != nil || len(freeze) != 1 || freeze[0] != "0" {
		t.Errorf("config.json's freeze: %v (%v, %v), want [0]", freeze, ok, err)
	}
	if r := run(t, "report", logDir); r.code != 0 {
		t.Errorf("report of the run: exit %d: %s", r.code, r.stderr)
	}
}

// TestTrainModelNormalize fine-tunes cnn28, trained with Normalize(0.5,
// 0.5) and declaring no preprocessing, for four steps: with --mean and
// --std it keeps its 98 % and the file it writes declares them; without,
// train says what it assumed.
func TestTrainModelNormalize(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: trains a graph for four steps, twice")
	}
	t.Parallel()
	data := realData(t)
	dir := t.TempDir()
	for _, normalize := range []bool{true, false} {
		out := filepath.Join(dir, fmt.Sprintf("cnn28-%v.onnx", normalize))
		args := []string{"train", "--model", testtool.Testdata("onnx/cnn28.onnx"), "--data", data, "--epochs", "1", "--limit", "256",
			"--batch-size", "64", "--out", out, "--format", "json"}
		if normalize {
			args = append(args, "--mean", "0.5", "--std", "0.5")
		}
		r := run(t, args...)
		if r.code != 0 {
			t.Fatalf("train: exit %d: %s", r.code, r.stderr)
		}
		if note := strings.Contains(r.stderr, "declares no preprocessing"); note == normalize {
			t.Errorf("--mean and --std given: %v; the note on the assumed preprocessing printed: %v", normalize, note)
		}
		if !normalize {
			continue
		}
		var trained struct {
			TestAccuracy float64 `json:"test_accuracy"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &trained); err != nil || trained.TestAccuracy < 97.5 {
			t.Errorf("test accuracy %.2f %% (%v): want cnn28's 98 %% kept", trained.TestAccuracy, err)
		}
		m, err := onnx.Load(out)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Metadata[onnx.MetaPreprocess]; got != `{"mean":0.5,"pad":0,"std":0.5}` {
			t.Errorf("the written file's preprocessing %s, want mean 0.5 and std 0.5", got)
		}
	}
}

func TestTrainedMetadata(t *testing.T) {
	m := &onnx.Model{Metadata: map[string]string{
		onnx.MetaSourceSHA256: "abc", "conv.num_batches_tracked": "79", "other": "kept", "bad.num_batches_tracked": "x",
	}}
	trainedMetadata(m, 10)
	want := map[string]string{"conv.num_batches_tracked": "89", "other": "kept", "bad.num_batches_tracked": "x"}
	if !maps.Equal(m.Metadata, want) {
		t.Errorf("metadata %v, want %v", m.Metadata, want)
	}
}
