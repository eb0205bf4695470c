package main

import (
	"encoding/json"
	"fmt"
	"image"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/image/draw"

	"github.com/lenetkit/lenetkit/internal/testtool"
)

// TestResizedDigits: LeNet-5 trained on MNIST resized to 32x32, as
// torchvision's Resize(32) makes it (reference/onnx_zoo.py's
// lenet5_resize), is measured with --prep resize as ONNX Runtime measures
// it, without --data too: its accuracy to the printed digit, its loss
// within 1e-4. Without the flag its digits are padded, as a file that
// declares nothing is assumed to take them: it scores lower, and the note
// says to give --prep resize. Fine-tuned with --prep resize, the file it
// writes declares its images resized, and eval, infer and train take them
// so without the flag; given --prep digit, eval and train refuse the 28x28
// digits, saying to give --prep resize.
func TestResizedDigits(t *testing.T) {
	t.Parallel()
	realData(t)
	models, _ := zoo(t)
	want, ok := models["lenet5_resize"]
	if !ok || want.Preprocess.Resize != 32 {
		t.Fatalf("expected.json has no lenet5_resize of 32x32 resized digits: %+v", want)
	}
	model := testtool.Testdata(filepath.Join("onnx", want.File))
	eval := func(args ...string) (evalJSON, string, result) {
		t.Helper()
		return evalOf(t, model, args...)
	}
	padded, _, r := eval()
	if r.code != 0 || padded.Accuracy > want.Accuracy-1 || !strings.Contains(r.stderr, "28x28 images padded by 2") || !strings.Contains(r.stderr, "give --prep resize") {
		t.Errorf("without --prep resize: exit %d, %.2f %% (resized: %.2f %%); stderr %q", r.code, padded.Accuracy, want.Accuracy, r.stderr)
	}
	e, data, r := eval("--prep", "resize")
	if got, w := fmt.Sprintf("%.2f", e.Accuracy), fmt.Sprintf("%.2f", want.Accuracy); r.code != 0 || got != w || e.Images != want.Images || math.Abs(e.Loss-want.Loss) > 1e-4 {
		t.Errorf("--prep resize: exit %d, %d images, %s %%, loss %.6f; ONNX Runtime %d, %s %%, %.6f; %s", r.code, e.Images, got, e.Loss, want.Images, w, want.Loss, r.stderr)
	}
	if !strings.Contains(data, "resized from 28x28 to 32x32") {
		t.Errorf("--prep resize: data %q does not say it was resized", data)
	}

	tuned := filepath.Join(t.TempDir(), "tuned.onnx")
	if r := run(t, "train", "--model", model, "--prep", "resize", "--epochs", "1", "--limit", "256", "--val", "64", "--out", tuned, "-q"); r.code != 0 {
		t.Fatalf("train --prep resize: exit %d: %s", r.code, r.stderr)
	}
	if _, _, r := eval("--prep", "resize:area"); r.code != 0 {
		t.Errorf("--prep resize:area: exit %d: %s", r.code, r.stderr)
	}
	wantOnlyError(t, run(t, "eval", tuned, "--prep", "digit"), "holds 28x28 images", "takes 32x32", "give --prep resize")
	wantOnlyError(t, run(t, "train", "--model", tuned, "--prep", "digit", "--epochs", "1", "--limit", "256", "--out", filepath.Join(t.TempDir(), "again.onnx"), "-q"),
		"holds 28x28 images", "takes 32x32", "give --prep resize")
	asked, declared := run(t, "eval", tuned, "--prep", "resize", "-q"), run(t, "eval", tuned, "-v")
	if asked.code != 0 || !strings.Contains(asked.stdout, "Accuracy: ") || declared.stdout != asked.stdout ||
		!strings.Contains(declared.stderr, "trained on images resized to its input (its preprocess metadata): --prep resize") {
		t.Errorf("eval of the fine-tuned file: with --prep resize, exit %d:\n%s%s\nwithout (-v), exit %d:\n%s%s", asked.code, asked.stdout, asked.stderr, declared.code, declared.stdout, declared.stderr)
	}
	if r := run(t, "doctor", tuned); r.code != 0 || !strings.Contains(r.stdout, "Preprocess: resize bilinear, pad 0, mean 0, std 1, declared") {
		t.Errorf("doctor of the fine-tuned file: exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	// quantize writes the resizing it calibrated with into its file.
	q := filepath.Join(t.TempDir(), "q.onnx")
	if r := run(t, "quantize", model, q, "--prep", "resize", "--n", "64", "-q"); r.code != 0 {
		t.Fatalf("quantize --prep resize: exit %d: %s", r.code, r.stderr)
	}
	if e, data, r := evalOf(t, q); r.code != 0 || math.Abs(e.Accuracy-want.Accuracy) > 1 || !strings.Contains(data, "resized from 28x28 to 32x32") {
		t.Errorf("eval of the quantized file: exit %d, %.2f %%, data %q: %s", r.code, e.Accuracy, data, r.stderr)
	}
	// The fine-tuned file quantizes as it declares, without the flag.
	if r := run(t, "quantize", tuned, filepath.Join(t.TempDir(), "tq.onnx"), "--n", "32"); r.code != 0 || !strings.Contains(r.stderr, "resized from 28x28 to 32x32") {
		t.Errorf("quantize of the fine-tuned file: exit %d: %s", r.code, r.stderr)
	}
	digit := testtool.Testdata(filepath.Join("images", "clean", "00000.png"))
	byFlag, byFile := run(t, "infer", tuned, digit, "--prep", "resize", "--format", "csv"), run(t, "infer", tuned, digit, "--format", "csv")
	if byFlag.code != 0 || byFile.stdout != byFlag.stdout {
		t.Errorf("infer of the fine-tuned file: with --prep resize, exit %d:\n%s\nwithout:\n%s%s", byFlag.code, byFlag.stdout, byFile.stdout, byFile.stderr)
	}
}

// evalOf runs eval --format json on model: its figures and what data it
// measured, when it succeeds, and how it ran.
func evalOf(t *testing.T, model string, args ...string) (evalJSON, string, result) {
	t.Helper()
	r := run(t, append([]string{"eval", model, "--format", "json"}, args...)...)
	var e struct {
		evalJSON
		Data string `json:"data"`
	}
	if r.code == 0 {
		if err := json.Unmarshal([]byte(r.stdout), &e); err != nil {
			t.Fatalf("eval %v printed %q: %v", args, r.stdout, err)
		}
	}
	return e.evalJSON, e.Data, r
}

// TestInferPathsResized: --prep resize makes each picture given as a PATH
// a digit classifier's whole input, as --data's are made, rather than
// the ink the digit pipeline crops (which finds none in a Fashion-MNIST
// shirt): the two routes score the same pictures the same.
func TestInferPathsResized(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	imageFolder(t, dir, 12, func(t *testing.T, i int) image.Image {
		src := digitImage(t, i)
		big := image.NewGray(image.Rect(0, 0, 56, 56))
		draw.BiLinear.Scale(big, big.Bounds(), src, src.Bounds(), draw.Src, nil)
		return big
	})
	model := testtool.Testdata("onnx/mlp_flat.onnx")
	byPath, byData := run(t, "infer", model, dir, "--prep", "resize", "--format", "csv", "-q"), run(t, "infer", model, "--data", dir, "--prep", "resize", "--format", "csv", "-q")
	if byPath.code != 0 || byData.code != 0 || byPath.stdout != byData.stdout || strings.Count(byPath.stdout, "\n") != 13 {
		t.Errorf("PATHs, exit %d:\n%s%s\n--data, exit %d:\n%s%s", byPath.code, byPath.stdout, byPath.stderr, byData.code, byData.stdout, byData.stderr)
	}
	// --invert always makes each picture's negative, by both routes.
	negPath, negData := run(t, "infer", model, dir, "--prep", "resize", "--invert", "always", "--format", "csv", "-q"),
		run(t, "infer", model, "--data", dir, "--prep", "resize", "--invert", "always", "--format", "csv", "-q")
	if negPath.code != 0 || negPath.stdout != negData.stdout || negPath.stdout == byPath.stdout {
		t.Errorf("--invert always: PATHs, exit %d:\n%s%s\n--data:\n%s%s", negPath.code, negPath.stdout, negPath.stderr, negData.stdout, negData.stderr)
	}
	if r := run(t, "infer", model, dir, "--prep", "resize", "--save-preprocessed", t.TempDir()); r.code != 2 {
		t.Errorf("--save-preprocessed with --prep resize: exit %d, want 2: %s", r.code, r.stderr)
	}
}
