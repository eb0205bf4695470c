package main

import (
	"encoding/binary"
	"encoding/json"
	"image"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
)

// TestInferColour: --colour gives a colour model each picture's red,
// green and blue, as torchvision's transforms make them (PIL's
// convert("RGB") and Resize, bilinear), and ONNX Runtime's probabilities
// on those tensors are lenetkit's: pictures of other sizes, an opaque
// and a translucent one, and a grey one repeated in three channels; given
// as PATHs, as --data to infer, and to eval, whose accuracy and loss are
// ONNX Runtime's on them.
func TestInferColour(t *testing.T) {
	t.Parallel()
	python := testtool.RequirePython(t, "PIL", "numpy")
	model, dir := testtool.Testdata("onnx/rgb_tiny.onnx"), t.TempDir()
	rng := rand.New(rand.NewPCG(8, 9))
	pictures := []image.Image{image.NewNRGBA(image.Rect(0, 0, 20, 24)), image.NewNRGBA(image.Rect(0, 0, 33, 17)), image.NewGray(image.Rect(0, 0, 16, 16)), image.NewNRGBA(image.Rect(0, 0, 9, 40))}
	for _, img := range pictures {
		switch p := img.(type) {
		case *image.NRGBA:
			for i := range p.Pix {
				p.Pix[i] = byte(rng.IntN(256))
				if i%4 == 3 && p.Rect.Dx() == 20 {
					p.Pix[i] = 255 // the first opaque, the second translucent
				}
			}
		case *image.Gray:
			for i := range p.Pix {
				p.Pix[i] = byte(rng.IntN(256))
			}
		}
	}
	var paths []string
	for i, img := range pictures {
		path := filepath.Join(dir, string(rune('0'+i)), "p.png")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, pngBytes(t, img), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	r := run(t, "infer", model, dir, "--prep", "resize", "--colour", "--format", "json", "-q")
	var rows []struct {
		Path          string
		Probabilities []float64
	}
	if err := json.Unmarshal([]byte(r.stdout), &rows); r.code != 0 || err != nil || len(rows) != len(paths) {
		t.Fatalf("exit %d, %v, %d rows: %s", r.code, err, len(rows), r.stderr)
	}
	in := filepath.Join(dir, "x.f32")
	const script = `import sys, numpy as np
from PIL import Image
out = []
for p in sys.argv[2:]:
    img = Image.open(p).convert("RGB").resize((16, 16), Image.BILINEAR)
    out.append((np.asarray(img, dtype=np.float32) / 255).transpose(2, 0, 1))
np.stack(out).astype("<f4").tofile(sys.argv[1])`
	if b, err := exec.Command(python, append([]string{"-c", script, in}, paths...)...).CombinedOutput(); err != nil {
		t.Fatalf("PIL: %v: %s", err, b)
	}
	job := testtool.ORTJob{Model: model, Input: in, N: len(paths), C: 3, H: 16, W: 16, Out: filepath.Join(dir, "y.f32")}
	testtool.RunORT(t, []testtool.ORTJob{job})
	b, err := os.ReadFile(job.Out)
	if err != nil {
		t.Fatal(err)
	}
	logits := make([]float32, len(b)/4)
	for i := range logits {
		logits[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	classes := len(logits) / len(paths)
	for i, p := range paths {
		var row []float64
		for _, rw := range rows {
			if strings.HasSuffix(p, rw.Path) || rw.Path == p {
				row = rw.Probabilities
			}
		}
		want := softmax(logits[i*classes : (i+1)*classes])
		if len(row) != classes {
			t.Fatalf("%s: %d probabilities, ONNX Runtime %d", p, len(row), classes)
		}
		for k := range want {
			if math.Abs(row[k]-want[k]) > 1e-5 {
				t.Errorf("%s: probabilities %v, ONNX Runtime on PIL's RGB %v", p, row, want)
				break
			}
		}
	}
	// The same pictures as --data: infer's rows, eval's figures.
	byData := run(t, "infer", model, "--data", dir, "--prep", "resize", "--colour", "--format", "json", "-q")
	var dataRows []struct{ Probabilities []float64 }
	if err := json.Unmarshal([]byte(byData.stdout), &dataRows); byData.code != 0 || err != nil || len(dataRows) != len(rows) {
		t.Fatalf("infer --data: exit %d, %v: %s", byData.code, err, byData.stderr)
	}
	for i := range rows {
		for k := range rows[i].Probabilities {
			if math.Abs(rows[i].Probabilities[k]-dataRows[i].Probabilities[k]) > 1e-12 {
				t.Fatalf("row %d: PATHs %v, --data %v", i, rows[i].Probabilities, dataRows[i].Probabilities)
			}
		}
	}
	var correct int
	var loss float64
	for i := range paths {
		p := softmax(logits[i*classes : (i+1)*classes])
		best := 0
		for k := range p {
			if p[k] > p[best] {
				best = k
			}
		}
		if best == i { // picture i is in folder i
			correct++
		}
		loss -= math.Log(p[i]) / float64(len(paths))
	}
	ev := run(t, "eval", model, "--data", dir, "--prep", "resize", "--colour", "--format", "json", "-q")
	var e struct{ Accuracy, Loss float64 }
	if err := json.Unmarshal([]byte(ev.stdout), &e); ev.code != 0 || err != nil {
		t.Fatalf("eval: exit %d, %v: %s", ev.code, err, ev.stderr)
	}
	if want := 100 * float64(correct) / float64(len(paths)); math.Abs(e.Accuracy-want) > 1e-9 || math.Abs(e.Loss-loss) > 1e-5 {
		t.Errorf("eval --colour: %.2f %%, loss %.6f; ONNX Runtime on PIL's RGB %.2f %%, %.6f", e.Accuracy, e.Loss, want, loss)
	}
	grey := run(t, "infer", model, dir, "--prep", "resize", "--format", "json", "-q")
	if grey.code != 0 || grey.stdout == r.stdout {
		t.Errorf("without --colour: exit %d, the same answers as with it", grey.code)
	}
	if r := run(t, "infer", testtool.Testdata("onnx/mlp_flat.onnx"), dir, "--prep", "resize", "--colour"); r.code != 2 || !strings.Contains(r.stderr, "a model of 3 channels") {
		t.Errorf("--colour for a grey model: exit %d: %s", r.code, r.stderr)
	}
	// train --colour fine-tunes on the same planes (train's
	// TestColourChannels has their layout), and refuses a grey graph.
	tuned := filepath.Join(t.TempDir(), "tuned.onnx")
	if r := run(t, "train", "--model", model, "--data", dir, "--prep", "resize", "--colour", "--epochs", "1", "--batch-size", "2", "--val", "2", "--out", tuned, "-q"); r.code != 0 {
		t.Fatalf("train --colour: exit %d: %s", r.code, r.stderr)
	}
	if r := run(t, "eval", tuned, "--data", dir, "--prep", "resize", "--colour", "-q"); r.code != 0 {
		t.Errorf("eval of the colour fine-tune: exit %d: %s", r.code, r.stderr)
	}
	int8 := filepath.Join(filepath.Dir(tuned), "int8.onnx")
	if r := run(t, "quantize", model, int8, "--calibrate", dir, "--prep", "resize", "--colour", "--n", "4", "-q"); r.code != 0 {
		t.Errorf("quantize --colour: exit %d: %s", r.code, r.stderr)
	}
	if r := run(t, "train", "--model", testtool.Testdata("onnx/mlp_flat.onnx"), "--data", dir, "--prep", "resize", "--colour", "--epochs", "1", "--batch-size", "2", "--val", "2", "--out", filepath.Join(filepath.Dir(tuned), "grey.onnx"), "-q"); r.code == 0 || !strings.Contains(r.stderr, "in 3 colours") {
		t.Errorf("train --colour of a grey graph: exit %d: %s", r.code, r.stderr)
	}
}
