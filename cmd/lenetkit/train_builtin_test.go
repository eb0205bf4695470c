package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/onnx"
)

// TestTrainBuiltinLeNet: train --data of an image folder, which the seed's
// recipe cannot read, trains the seed's LeNet as a graph, saying so, with a
// last layer of the folder's 3 classes; --model lenet asks for the same run
// and writes the same bytes; the graph records the folder's class names,
// and eval measures it by them, on a folder of some of the classes too; --resume of the finished run, its model deleted, writes those
// bytes again from the checkpoint (the graph rebuilt from the recorded
// seed and classes). A folder of one class is refused in one line, the
// seed's own flags are refused there, and a graph flag without --model
// names --model lenet.
func TestTrainBuiltinLeNet(t *testing.T) {
	t.Parallel()
	dir, _ := bandFolder(t)
	tmp := t.TempDir()
	train := func(out string, more ...string) result {
		t.Helper()
		args := append([]string{"train", "--data", dir, "--prep", "resize", "--epochs", "2", "--batch-size", "4", "--val", "2",
			"--seed", "3", "--out", out}, more...)
		r := run(t, args...)
		if r.code != 0 {
			t.Fatalf("%s: exit %d:\n%s", strings.Join(args, " "), r.code, r.stderr)
		}
		return r
	}
	auto := filepath.Join(tmp, "auto.onnx")
	logDir := filepath.Join(tmp, "log")
	r := train(auto, "--log-dir", logDir)
	for _, want := range []string{
		"note: the seed's recipe reads MNIST's IDX files, not image folder " + dir + " (3 classes): training the seed's LeNet as a graph, as --model lenet does",
		"(from train's initialisation with --seed 3;",
		`replaced: 64 inputs, 3 classes`,
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	m, err := onnx.Load(auto)
	if err != nil {
		t.Fatal(err)
	}
	if in, out := m.Graph.Inputs[0].Shape(), m.Graph.Outputs[0].Shape(); !slices.Equal(in[1:], []int{1, 32, 32}) || out[len(out)-1] != 3 {
		t.Errorf("the trained graph takes %v and gives %v; want the seed's 1x32x32 input and 3 classes", in, out)
	}
	asked := filepath.Join(tmp, "asked.onnx")
	r = train(asked, "--model", "lenet")
	if strings.Contains(r.stderr, "note: the seed's recipe reads") {
		t.Errorf("--model lenet explains itself as if unasked:\n%s", r.stderr)
	}
	a, errA := os.ReadFile(auto)
	b, errB := os.ReadFile(asked)
	if errA != nil || errB != nil || !bytes.Equal(a, b) {
		t.Errorf("--model lenet wrote other bytes than the run without --model (%v, %v)", errA, errB)
	}
	checkPerClass(t, evalJSONOf(t, auto, "--data", dir, "--prep", "resize"), 3)
	if got := m.Metadata[onnx.MetaClasses]; got != `["alpha","beta","gamma"]` {
		t.Errorf("the trained graph names its classes %s, want the folder's", got)
	}
	// infer of the folder's files, as files, for a classifier of 3 classes:
	// labelled by their folders' names, eval's figures; a file that is no
	// image fails alone.
	notes := filepath.Join(tmp, "notes.png")
	os.WriteFile(notes, []byte("not a picture"), 0o644)
	inf := run(t, "infer", auto, dir, notes, "--prep", "resize", "--format", "csv")
	ev := evalJSONOf(t, auto, "--data", dir, "--prep", "resize")
	sm := inferSummary.FindStringSubmatch(inf.stderr)
	if inf.code != 1 || sm == nil || sm[1] != "10" || sm[2] != "10" || sm[3] != strconv.FormatFloat(ev.Accuracy, 'f', 2, 64) ||
		!strings.Contains(inf.stderr, "; 1 failed") || !strings.Contains(inf.stdout, notes+`,,,,error,,"dataset: `+notes+`: not a PNG, JPEG, GIF or BMP image"`) {
		t.Errorf("infer of the files: exit %d, summary %q (eval: %.2f %%):\n%s%s", inf.code, sm, ev.Accuracy, inf.stdout, inf.stderr)
	}

	// A folder of two of its classes, in another order of folders, is
	// measured by the names: gamma's images are class 2, as they were.
	part := filepath.Join(tmp, "part")
	for _, class := range []string{"gamma", "beta"} {
		if err := os.CopyFS(filepath.Join(part, class), os.DirFS(filepath.Join(dir, class))); err != nil {
			t.Fatal(err)
		}
	}
	whole, some := evalJSONOf(t, auto, "--data", dir, "--prep", "resize"), evalJSONOf(t, auto, "--data", part, "--prep", "resize")
	checkPerClass(t, some, 3)
	if some.PerClass[0].Class != "alpha" || some.PerClass[0].Images != 0 || some.PerClass[2].Class != "gamma" ||
		some.PerClass[2].Images != 3 || some.PerClass[2].Correct != whole.PerClass[2].Correct {
		t.Errorf("eval of beta and gamma alone, per class %+v; of all three %+v", some.PerClass, whole.PerClass)
	}

	// Quantized on the folder, by images from every class, it keeps them.
	q := filepath.Join(tmp, "int8.onnx")
	r = run(t, "quantize", auto, q, "--calibrate", dir, "--prep", "resize", "--n", "3", "--format", "json")
	var qj quantizeJSON
	if err := json.Unmarshal([]byte(r.stdout), &qj); r.code != 0 || err != nil || qj.Calibration != "3 images spread evenly over image folder "+dir+" (3 classes)" {
		t.Errorf("quantize: exit %d, %v, calibration %q:\n%s", r.code, err, qj.Calibration, r.stderr)
	} else if qm, err := onnx.Load(q); err != nil || qm.Metadata[onnx.MetaClasses] != m.Metadata[onnx.MetaClasses] {
		t.Errorf("the quantized graph's classes: %v, %q", err, qm.Metadata[onnx.MetaClasses])
	}

	if err := os.Remove(auto); err != nil {
		t.Fatal(err)
	}
	if r := run(t, "train", "--resume", logDir, "--out", auto); r.code != 0 {
		t.Fatalf("--resume of the finished run: exit %d:\n%s", r.code, r.stderr)
	}
	if again, err := os.ReadFile(auto); err != nil || !bytes.Equal(again, b) {
		t.Errorf("--resume wrote other bytes than the run (%v)", err)
	}

	one := filepath.Join(tmp, "one")
	if err := os.CopyFS(filepath.Join(one, "alpha"), os.DirFS(filepath.Join(dir, "alpha"))); err != nil {
		t.Fatal(err)
	}
	wantOnlyError(t, run(t, "train", "--data", one, "--prep", "resize", "--out", filepath.Join(tmp, "one.onnx")),
		`--data `+one+` has 1 class ("alpha"): a classifier learns to tell 2 or more apart`)
	for _, c := range []struct {
		args  []string
		wants []string
	}{
		{[]string{"--data", dir, "--dropout", "0.1"}, []string{"--dropout belongs to the seed's recipe, which reads MNIST's IDX files, not --data " + dir, "(--model lenet)"}},
		{[]string{"--augment", "shift"}, []string{"--augment trains an ONNX graph", "--model lenet for the seed's LeNet"}},
	} {
		r := run(t, append([]string{"train"}, c.args...)...)
		line := strings.TrimSuffix(r.stderr, "\n")
		if r.code != 2 || strings.Contains(line, "\n") || r.stdout != "" {
			t.Errorf("train %s: exit %d, want 2 and one line:\n%s", strings.Join(c.args, " "), r.code, r.stderr)
		}
		for _, want := range c.wants {
			if !strings.Contains(line, want) {
				t.Errorf("train %s: %q lacks %q", strings.Join(c.args, " "), line, want)
			}
		}
	}
}

// TestTrainModelFileNamedLenet: a file named lenet in the working
// directory is the --model it names, not the built-in network.
func TestTrainModelFileNamedLenet(t *testing.T) {
	t.Parallel()
	dir, _ := bandFolder(t)
	work := t.TempDir()
	copyModel(t, testtool.Testdata("onnx/cnn28.onnx"), filepath.Join(work, "lenet"))
	r := runArgv(t, work, lenetkitBin, "train", "--model", "lenet", "--classes", "3", "--data", dir, "--prep", "resize",
		"--epochs", "1", "--batch-size", "4", "--mean", "0.5", "--std", "0.5", "-q")
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	m, err := onnx.Load(filepath.Join(work, "lenet-trained.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if in := m.Graph.Inputs[0].Shape(); !slices.Equal(in[1:], []int{1, 28, 28}) {
		t.Errorf("trained a graph of input %v, want the file's (cnn28's 1x28x28)", in)
	}
}

// TestTrainSplitFolder: --data of train/ and test/ folders trains on
// train/ and tests on test/ (which lacks a class), and eval measures
// test/ alone, with the same figures; val/ beside them is the validation
// set, and --val is refused there.
func TestTrainSplitFolder(t *testing.T) {
	t.Parallel()
	dir, _ := bandFolder(t)
	root := filepath.Join(t.TempDir(), "split")
	for _, c := range []struct{ from, to string }{{"alpha", "train/alpha"}, {"beta", "train/beta"}, {"gamma", "train/gamma"}, {"gamma", "test/gamma"}, {"alpha", "test/alpha"}} {
		if err := os.CopyFS(filepath.Join(root, c.to), os.DirFS(filepath.Join(dir, c.from))); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "split.onnx")
	r := run(t, "train", "--data", root, "--prep", "resize", "--epochs", "1", "--batch-size", "4", "--val", "2", "--out", out, "--format", "json")
	var trained struct {
		Data         string  `json:"data"`
		TestImages   int     `json:"test_images"`
		TestAccuracy float64 `json:"test_accuracy"`
		TestLoss     float64 `json:"test_loss"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &trained); r.code != 0 || err != nil || trained.TestImages != 6 ||
		!strings.HasSuffix(trained.Data, "(3 classes, train/ and test/)") {
		t.Fatalf("train: exit %d, %v, %+v:\n%s", r.code, err, trained, r.stderr)
	}
	e := evalJSONOf(t, out, "--data", root, "--prep", "resize")
	if e.Images != 6 || e.Accuracy != trained.TestAccuracy || math.Abs(e.Loss-trained.TestLoss) > 1e-6 || e.PerClass[1].Images != 0 {
		t.Errorf("eval of test/: %d images, %.2f %%, loss %.6f, per class %+v; train said %+v", e.Images, e.Accuracy, e.Loss, e.PerClass, trained)
	}

	// val/ beside them is what the run validates on, all of train/ training.
	if err := os.CopyFS(filepath.Join(root, "val", "beta"), os.DirFS(filepath.Join(dir, "beta"))); err != nil {
		t.Fatal(err)
	}
	r = run(t, "train", "--data", root, "--prep", "resize", "--epochs", "1", "--batch-size", "4", "--out", out, "--force")
	if want := "(3 classes, train/, val/ and test/): 10 training, 4 validation, 6 test images"; r.code != 0 || !strings.Contains(r.stderr, want) {
		t.Errorf("with val/: exit %d, stderr lacks %q:\n%s", r.code, want, r.stderr)
	}
	r = run(t, "train", "--data", root, "--prep", "resize", "--val", "2", "--out", out, "--force")
	if line := strings.TrimSpace(r.stderr); r.code != 2 || strings.Contains(line, "\n") || !strings.Contains(line, "--val 2: "+root+" has val/ to validate on") {
		t.Errorf("--val with val/: exit %d:\n%s", r.code, r.stderr)
	}
}

// TestTrainBuiltinPrefixedIDX: IDX files named with a prefix, as EMNIST's
// are, given as DIR/PREFIX, are data the seed's recipe does not read: the
// built-in LeNet trains on them, and tests on their test part.
func TestTrainBuiltinPrefixedIDX(t *testing.T) {
	t.Parallel()
	src := smallData(t, 256, 64)
	dir := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.Rename(filepath.Join(src, e.Name()), filepath.Join(dir, "emnist-digits-"+e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	r := run(t, "train", "--data", filepath.Join(dir, "emnist-digits"), "--skip-checksum", "--epochs", "1", "--batch-size", "32",
		"--out", filepath.Join(t.TempDir(), "e.onnx"), "--format", "json")
	var got struct {
		TestImages int `json:"test_images"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); r.code != 0 || err != nil || got.TestImages != 64 ||
		!strings.Contains(r.stderr, "note: the seed's recipe reads MNIST's IDX files, not IDX data from "+dir) {
		t.Errorf("exit %d, %v, %+v:\n%s", r.code, err, got, r.stderr)
	}
}
