package main

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/infer"
	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/onnx"
)

func TestQuantizeHelp(t *testing.T) {
	r := run(t, "quantize", "--help")
	for _, want := range []string{"lenetkit quantize - make a model int8", "Examples:", "lenetkit quantize parameter.pth parameter-int8.onnx",
		"--method entropy --bins 2048", "--calibrate DIR", "--per-tensor", "--activations value"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("quantize --help lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestQuantizeBadInput: each mistake is one line on stderr, exit 2 for the
// command line and 1 for a file, and OUT is not written, nor anything
// left beside it.
func TestQuantizeBadInput(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pth")
	if err := os.WriteFile(junk, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	existing := filepath.Join(dir, "existing.onnx")
	if err := os.WriteFile(existing, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "folder.onnx"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.onnx")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no arguments", nil, 2, "quantize takes IN and OUT.onnx, got 0 arguments"},
		{"missing file", []string{filepath.Join(dir, "absent.pth"), out}, 1, "absent.pth"},
		{"not a model", []string{junk, out}, 1, "junk.pth: not a PyTorch file"},
		{"--n 0", []string{trainedPTH, out, "--n", "0"}, 2, "--n 0: calibration needs 1 image or more"},
		{"unknown method", []string{trainedPTH, out, "--method", "kl"}, 2, `--method "kl": want minmax, percentile, entropy`},
		{"OUT not .onnx", []string{trainedPTH, filepath.Join(dir, "out.pth")}, 2, "name it .onnx"},
		{"activations", []string{trainedPTH, out, "--activations", "int4"}, 2, `--activations "int4": want uint8 or int8`},
		{"percentile", []string{trainedPTH, out, "--percentile", "101"}, 2, "--percentile 101: want a number in (0, 100]"},
		{"bins", []string{trainedPTH, out, "--method", "entropy", "--bins", "64"}, 2, "--bins 64: entropy needs at least --quantized-bins (128)"},
		{"protocol", []string{trainedPTH, out, "--protocol", "half"}, 2, `--protocol "half": want full or seed`},
		{"format", []string{trainedPTH, out, "--format", "yaml"}, 2, `--format "yaml"`},
		{"OUT exists", []string{trainedPTH, existing}, 1, "existing.onnx exists; --force overwrites it"},
		{"OUT a folder", []string{trainedPTH, filepath.Join(dir, "folder.onnx"), "--force"}, 1, "folder.onnx is a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, append([]string{"quantize"}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) || strings.Count(r.stderr, "\n") != 1 || r.stdout != "" {
				t.Errorf("exit %d, stderr %q, stdout %q; want exit %d and one line with %q", r.code, r.stderr, r.stdout, tc.code, tc.want)
			}
			entries, _ := os.ReadDir(dir)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			if want := []string{"existing.onnx", "folder.onnx", "junk.pth"}; !slices.Equal(names, want) {
				t.Errorf("the folder holds %v, want %v", names, want)
			}
		})
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me" {
		t.Errorf("an existing OUT was changed: %q", b)
	}
}

type quantizeJSON struct {
	Format, Out, Method, Weights, Activations, Calibration, Protocol string
	ReduceRange                                                      bool `json:"reduce_range"`
	Images                                                           int
	TestImages                                                       int `json:"test_images"`
	Before, After                                                    struct {
		Accuracy, Loss float64
		Correct        int
	}
	InBytes   int64 `json:"in_onnx_bytes"`
	OutBytes  int64 `json:"out_bytes"`
	Quantized struct {
		Activations []struct {
			Tensor    string
			Scale     float32
			ZeroPoint int `json:"zero_point"`
		}
		Weights []struct{ Name string }
		Biases  int
		Removed []string `json:"removed_nodes"`
	}
}

// TestQuantize quantizes testdata/lenet_trained.pth with the defaults
// (MinMax over 256 training images, int8 weights per channel, uint8
// activations): under a third of the float ONNX file's size, accuracy
// within 0.5 points of the float model's; ONNX's checker passes the file,
// and ONNX Runtime's accuracy on the 10,000 test images is lenetkit's,
// its mean loss within 1e-4. Where ONNX Runtime's uint8 x int8 products
// saturate (a CPU without VNNI), the weights are quantized with
// --reduce-range, which keeps them exact.
func TestQuantize(t *testing.T) {
	t.Parallel()
	data := realData(t)
	out := filepath.Join(t.TempDir(), "int8.onnx")
	args := []string{"quantize", trainedPTH, out, "--format", "json"}
	reduced := !testtool.ORTExactU8S8()
	if reduced {
		t.Log("ONNX Runtime's uint8 x int8 sums saturate on this CPU (no VNNI): the weights take 7 bits (--reduce-range)")
		args = append(args, "--reduce-range")
	}
	r := run(t, args...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var q quantizeJSON
	if err := json.Unmarshal([]byte(r.stdout), &q); err != nil {
		t.Fatalf("%v in %s", err, r.stdout)
	}
	t.Logf("float %.2f %% %.4f, int8 %.2f %% %.4f; %d -> %d bytes", q.Before.Accuracy, q.Before.Loss, q.After.Accuracy, q.After.Loss, q.InBytes, q.OutBytes)
	if q.Format != "pth" || q.Method != "minmax" || q.Weights != "per channel" || q.ReduceRange != reduced || q.Activations != "uint8" || q.Images != 256 ||
		q.Protocol != "full" || q.TestImages != 10000 || q.Calibration != "the first 256 MNIST training images" {
		t.Errorf("%+v", q)
	}
	if math.Abs(q.After.Accuracy-q.Before.Accuracy) > 0.5 || q.Before.Accuracy < 98 || q.OutBytes*3 > q.InBytes {
		t.Errorf("float %.2f %%, int8 %.2f %%; %d -> %d bytes", q.Before.Accuracy, q.After.Accuracy, q.InBytes, q.OutBytes)
	}
	if len(q.Quantized.Weights) != 8 || len(q.Quantized.Activations) != 13 || q.Quantized.Biases != 8 ||
		!slices.Equal(q.Quantized.Removed, []string{"relu1", "relu2", "relu3"}) {
		t.Errorf("quantized %+v", q.Quantized)
	}
	if in := q.Quantized.Activations[0]; in.Tensor != "input" || in.Scale != float32(1.0/255) || in.ZeroPoint != 0 {
		t.Errorf("the input's parameters: %+v", in)
	}
	entries, _ := os.ReadDir(filepath.Dir(out))
	if len(entries) != 1 {
		t.Errorf("the output folder holds %d entries, want OUT alone", len(entries))
	}
	ins := run(t, "inspect", out)
	if !strings.Contains(ins.stdout, "Quantized:  QDQ; 13 activations, 8 weights, 8 biases") {
		t.Errorf("inspect:\n%s", ins.stdout)
	}

	checkedAsORTMeasures(t, out, data, q, nil)
}

// checkedAsORTMeasures checks the int8 file out with ONNX's checker and
// that ONNX Runtime measures on data's test images what quantize printed,
// q: the same accuracy, the loss within 1e-4. m, when not nil, is out
// opened, for an input other than the seed's padded digits.
func checkedAsORTMeasures(t *testing.T, out, data string, q quantizeJSON, m *infer.Model) {
	t.Helper()
	py := testtool.RequirePython(t, "onnx")
	if b, err := exec.Command(py, "-c", "import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)", out).CombinedOutput(); err != nil {
		t.Errorf("onnx.checker: %v\n%s", err, b)
	}
	acc, loss := ortFiguresOf(t, out, data, m)
	t.Logf("ONNX Runtime: %.2f %%, loss %.6f; lenetkit: %.2f %%, loss %.6f", acc, loss, q.After.Accuracy, q.After.Loss)
	if acc != q.After.Accuracy || math.Abs(loss-q.After.Loss) > 1e-4 {
		t.Errorf("ONNX Runtime: %.2f %%, loss %.6f; lenetkit: %.2f %%, loss %.6f", acc, loss, q.After.Accuracy, q.After.Loss)
	}
}

// TestQuantizeOptions: --calibrate (and its alias --data) with a folder
// of IDX files, percentile calibration, per-tensor weights, the seed
// protocol, the text output.
func TestQuantizeOptions(t *testing.T) {
	t.Parallel()
	testtool.SkipShort(t)
	data := realData(t)
	out := filepath.Join(t.TempDir(), "int8.onnx")
	r := run(t, "quantize", trainedPTH, out, "--calibrate", data, "--n", "64", "--method", "percentile", "--per-tensor", "--protocol", "seed")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{
		"Calibration:  percentile 99.999, 2048 bins on the first 64 training images of MNIST (IDX) from ",
		"Quantized:    8 weights int8 per tensor, 13 activations uint8, 8 biases int32; folded into their ranges: relu1, relu2, relu3",
		"Test images:  9984 (protocol seed)",
		"  float       ", "  int8        ", "Wrote " + out,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "calibrating 10 tensors on the first 64 training images") {
		t.Errorf("stderr: %s", r.stderr)
	}
	r = run(t, "quantize", trainedPTH, out, "--data", data, "--n", "8", "--force", "--format", "json", "--activations", "int8")
	var q quantizeJSON
	if err := json.Unmarshal([]byte(r.stdout), &q); r.code != 0 || err != nil || q.Images != 8 || q.Activations != "int8" || q.Quantized.Activations[0].ZeroPoint != -128 {
		t.Errorf("--data, --force, int8 activations: exit %d, %v, %+v\n%s", r.code, err, q, r.stderr)
	}
}

// TestQuantizeFixedBatch: a model whose input fixes its batch at 10 (an
// export without a dynamic axis) calibrates on the default 256 images
// rounded down to 250, batches of exactly 10, and the int8 file declares
// the --mean and --std given; a --n given that is no multiple of 10 is
// refused, saying what to give.
func TestQuantizeFixedBatch(t *testing.T) {
	t.Parallel()
	testtool.SkipShort(t)
	in, out := fixedBatchCNN(t, 10), filepath.Join(t.TempDir(), "int8.onnx")
	r := run(t, "quantize", in, out, "--mean", "0.5", "--std", "0.5")
	if r.code != 0 || !strings.Contains(r.stderr, "on the first 250 ") {
		t.Errorf("exit %d, want 0 and a calibration on 250 images:\n%s", r.code, r.stderr)
	}
	q, err := onnx.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := q.Metadata[onnx.MetaPreprocess]; got != `{"pad":0,"mean":0.5,"std":0.5}` {
		t.Errorf("the int8 file's preprocessing %q: want --mean and --std's", got)
	}
	// ONNX Runtime's products saturate without VNNI: quantize says so
	// where they do, and only there.
	if note := strings.Contains(r.stderr, "saturates uint8 x int8 products"); note == testtool.ORTExactU8S8() {
		t.Errorf("a note of ONNX Runtime's saturation: %v, on a CPU where ONNX Runtime is exact: %v\n%s", note, testtool.ORTExactU8S8(), r.stderr)
	}
	if r = run(t, "quantize", in, out, "--n", "25", "--force"); r.code != 2 || !strings.Contains(r.stderr, "--n 25: the model's input takes batches of exactly 10 images; give a multiple of 10") {
		t.Errorf("--n 25: exit %d, want 2 and what to give:\n%s", r.code, r.stderr)
	}
}

// TestCalibrationImagesColour: calibration images for a colour model of
// digits are each grey image as 3 equal channels, image after image,
// channels-first or channels-last as the graph's input is declared.
func TestCalibrationImagesColour(t *testing.T) {
	const px = 4
	grey := func(i int, x []float32) error {
		for j := range x {
			x[j] = float32(10*i + j)
		}
		return nil
	}
	for _, last := range []bool{false, true} {
		imgs := images{n: 3, size: px, fill: grey, copies: 3, last: last}
		x := make([]float32, 2*3*px)
		if err := imgs.Fill(1, 2, x); err != nil {
			t.Fatal(err)
		}
		for k := range 2 {
			for ch := range 3 {
				for j := range px {
					at := (k*3+ch)*px + j
					if last {
						at = (k*px+j)*3 + ch
					}
					if want := float32(10*(1+k) + j); x[at] != want {
						t.Fatalf("last %v: image %d channel %d pixel %d is %g, want %g", last, k, ch, j, x[at], want)
					}
				}
			}
		}
	}
}

// TestQuantizeOldOpset: the model zoo's mnist-8 (CNTK, opset 8, before
// QuantizeLinear) is quantized per channel in opset 13's forms, which
// ONNX's checker passes and ONNX Runtime runs to lenetkit's figures.
func TestQuantizeOldOpset(t *testing.T) {
	t.Parallel()
	testtool.SkipShort(t)
	data := realData(t)
	in, out := testtool.Testdata("onnx/producers/cntk_mnist8.onnx"), filepath.Join(t.TempDir(), "int8.onnx")
	args := []string{"quantize", in, out, "--format", "json"}
	if !testtool.ORTExactU8S8() {
		args = append(args, "--reduce-range")
	}
	r := run(t, args...)
	var q quantizeJSON
	if err := json.Unmarshal([]byte(r.stdout), &q); r.code != 0 || err != nil {
		t.Fatalf("exit %d, %v:\n%s", r.code, err, r.stderr)
	}
	if q.Weights != "per channel" || len(q.Quantized.Weights) != 2 || math.Abs(q.After.Accuracy-q.Before.Accuracy) > 0.5 {
		t.Errorf("%+v", q)
	}
	m, err := onnx.Load(out)
	if err != nil || m.Opset != 13 {
		t.Fatalf("the int8 file: opset %v, %v; want 13", m, err)
	}
	im, err := infer.Open(out, "")
	if err != nil {
		t.Fatal(err)
	}
	checkedAsORTMeasures(t, out, data, q, im)
}

// TestQuantizeLossNote: an int8 model that loses more than lossNote
// points (ranges cut at the 50th percentile) is written, and quantize
// says so with what to try; one within it gets no such note.
func TestQuantizeLossNote(t *testing.T) {
	t.Parallel()
	testtool.SkipShort(t)
	model, dir := testtool.Testdata("onnx/mlp_flat.onnx"), t.TempDir()
	for _, c := range []struct {
		args []string
		note bool
	}{
		{[]string{"--method", "percentile", "--percentile", "50"}, true},
		{[]string{"--method", "minmax"}, false},
	} {
		out := filepath.Join(dir, c.args[1]+".onnx")
		r := run(t, append([]string{"quantize", model, out, "--n", "32", "--format", "json"}, c.args...)...)
		var q quantizeJSON
		if err := json.Unmarshal([]byte(r.stdout), &q); r.code != 0 || err != nil {
			t.Fatalf("%v: exit %d, %v: %s", c.args, r.code, err, r.stderr)
		}
		lost := q.Before.Accuracy - q.After.Accuracy
		noted := strings.Contains(r.stderr, "note: the int8 model lost") && strings.Contains(r.stderr, "try --method minmax")
		if noted != c.note || (lost > lossNote) != c.note {
			t.Errorf("%v: lost %.2f points; noted %v, want %v:\n%s", c.args, lost, noted, c.note, r.stderr)
		}
	}
}
