package serve_test

import (
	"bytes"
	"image"
	"image/png"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/dataset"
	"github.com/lenetkit/lenetkit/digit"
	"github.com/lenetkit/lenetkit/infer"
	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/onnx"
	"github.com/lenetkit/lenetkit/serve"
)

// TestClassifyResizedModel: a model that declares it was trained on
// resized digits (LeNet-5 of 32x32 inputs, torchvision's Resize(32), as
// lenetkit train --prep resize writes it) answers /v1/classify with the
// digit resized to its input, not padded: infer's probabilities for the
// digit resized by dataset.Resize (PIL's, TestResizeMatchesPIL).
func TestClassifyResizedModel(t *testing.T) {
	m, err := onnx.Read(testtool.Testdata("onnx/lenet5_resize.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	m.MetadataProps = append(m.MetadataProps, &onnx.StringStringEntryProto{Key: onnx.MetaPreprocess, Value: `{"pad":0,"mean":0,"std":1,"resize":"bilinear"}`})
	b, err := onnx.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "lenet5_resized.onnx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	model, err := infer.OpenClassifier(path, "", infer.OpenOptions{AnyInput: true})
	if err != nil {
		t.Fatal(err)
	}
	_, ts := newTestServer(t, serve.Options{}, serve.ModelSpec{Name: "lenet5", Path: path})
	for _, d := range cleanDigits(t)[:4] {
		a := call(t, ts, "POST", "/v1/classify?top=10", "image/png", d.png)
		if a.status != http.StatusOK {
			t.Fatalf("%s: status %d: %s", d.file, a.status, a.body)
		}
		var r classifyAnswer
		a.decode(t, &r)
		// infer's way: the 28x28 digit, resized to 32x32, Logits, softmax.
		x := digitInput(t, d.png, 28)
		pix := make([]byte, len(x))
		for i, v := range x {
			pix[i] = byte(math.Round(float64(v) * 255))
		}
		in := make([]float32, 32*32)
		resized, err := dataset.Resize(pix, digit.Side, digit.Side, 32, 32, false)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range resized {
			in[i] = float32(v) / 255
		}
		logits := make([]float32, 10)
		if err := model.InputLogits(logits, in, 1); err != nil {
			t.Fatal(err)
		}
		want := softmax(logits)
		got := r.Results[0].Probabilities
		if len(got) != 10 || r.Results[0].Class != d.label {
			t.Fatalf("%s: class %d of %d probabilities, want %d", d.file, r.Results[0].Class, len(got), d.label)
		}
		for i := range want {
			if math.Abs(got[i]-want[i]) > 1e-6 {
				t.Fatalf("%s: probabilities %v, want %v (the digit resized)", d.file, got, want)
			}
		}
	}
}

// TestClassifyNormalize: a model trained with Normalize(0.5, 0.5) whose
// file declares nothing (cnn28.onnx) answers /v1/classify as infer does
// with --mean 0.5 --std 0.5 when its ModelSpec gives them, and otherwise
// as infer does without them.
func TestClassifyNormalize(t *testing.T) {
	half := float32(0.5)
	_, ts := newTestServer(t, serve.Options{}, serve.ModelSpec{Name: "normalized", Path: cnn28ONNX, Mean: &half, Std: &half},
		serve.ModelSpec{Name: "raw", Path: cnn28ONNX})
	for _, name := range []string{"normalized", "raw"} {
		model, err := infer.OpenClassifier(cnn28ONNX, "", infer.OpenOptions{AnyInput: true})
		if err != nil {
			t.Fatal(err)
		}
		if name == "normalized" {
			model.Preprocess.Mean, model.Preprocess.Std = half, half
		}
		for _, d := range cleanDigits(t)[:3] {
			a := call(t, ts, "POST", "/v1/classify?top=10&model="+name, "image/png", d.png)
			if a.status != http.StatusOK {
				t.Fatalf("%s: status %d: %s", d.file, a.status, a.body)
			}
			var r classifyAnswer
			a.decode(t, &r)
			logits := make([]float32, 10)
			if err := model.InputLogits(logits, digitInput(t, d.png, 28), 1); err != nil {
				t.Fatal(err)
			}
			want, got := softmax(logits), r.Results[0].Probabilities
			for i := range want {
				if len(got) != len(want) || math.Abs(got[i]-want[i]) > 1e-6 {
					t.Fatalf("%s, model %s: probabilities %v, want infer's %v", d.file, name, got, want)
				}
			}
		}
	}
}

// TestClassifyWholePicture: a model served with Prep "resize" takes each
// picture grey and resized whole to its input, as --data's images are
// made (dataset.Resize), not the digit found in it: a picture of another
// shape, and one with nothing on it, which the digit pipeline refuses.
func TestClassifyWholePicture(t *testing.T) {
	path := testtool.Testdata("onnx/mlp_flat.onnx")
	model, err := infer.OpenClassifier(path, "", infer.OpenOptions{AnyInput: true})
	if err != nil {
		t.Fatal(err)
	}
	_, ts := newTestServer(t, serve.Options{}, serve.ModelSpec{Name: "whole", Path: path, Prep: "resize"})
	const w, h = 56, 40
	striped, blank := image.NewGray(image.Rect(0, 0, w, h)), image.NewGray(image.Rect(0, 0, w, h))
	for i := range striped.Pix {
		striped.Pix[i] = byte(i % w * 4)
	}
	for _, img := range []*image.Gray{striped, blank} {
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		a := call(t, ts, "POST", "/v1/classify?top=10", "image/png", buf.Bytes())
		if a.status != http.StatusOK {
			t.Fatalf("status %d: %s", a.status, a.body)
		}
		var r classifyAnswer
		a.decode(t, &r)
		resized, err := dataset.Resize(img.Pix, w, h, 28, 28, false)
		if err != nil {
			t.Fatal(err)
		}
		in := make([]float32, len(resized))
		for i, v := range resized {
			in[i] = float32(v) / 255
		}
		logits := make([]float32, 10)
		if err := model.InputLogits(logits, in, 1); err != nil {
			t.Fatal(err)
		}
		want, got := softmax(logits), r.Results[0].Probabilities
		for i := range want {
			if len(got) != len(want) || math.Abs(got[i]-want[i]) > 1e-6 {
				t.Fatalf("probabilities %v, want %v (the picture resized whole)", got, want)
			}
		}
	}
}

// TestClassifyColour: a colour model served with Prep "resize" and Colour
// takes each picture's red, green and blue (dataset.ColourPlanes, which
// infer --colour's test holds to PIL and ONNX Runtime), not its grey.
func TestClassifyColour(t *testing.T) {
	path := testtool.Testdata("onnx/rgb_tiny.onnx")
	model, err := infer.OpenClassifier(path, "", infer.OpenOptions{AnyInput: true, AnyChannels: true, AnyClasses: true})
	if err != nil {
		t.Fatal(err)
	}
	_, ts := newTestServer(t, serve.Options{}, serve.ModelSpec{Name: "rgb", Path: path, Prep: "resize", Colour: true})
	img := image.NewNRGBA(image.Rect(0, 0, 30, 20))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 37 % 251)
		if i%4 == 3 {
			img.Pix[i] = 255
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	a := call(t, ts, "POST", "/v1/classify?top=1&preview=1", "image/png", buf.Bytes())
	if a.status != http.StatusOK {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	var r classifyAnswer
	a.decode(t, &r)
	planes, err := dataset.ColourPlanes(img, 16, 16, false, digit.InvertAuto)
	if err != nil {
		t.Fatal(err)
	}
	in := make([]float32, len(planes))
	for i, v := range planes {
		in[i] = float32(v) / 255
	}
	logits := make([]float32, model.Classes)
	if err := model.InputLogits(logits, in, 1); err != nil {
		t.Fatal(err)
	}
	want, got := softmax(logits), r.Results[0].Probabilities
	for i := range want {
		if len(got) != len(want) || math.Abs(got[i]-want[i]) > 1e-6 {
			t.Fatalf("probabilities %v, want %v (the picture's colours)", got, want)
		}
	}
	if !strings.HasPrefix(r.Results[0].Image, "data:image/png;base64,") {
		t.Errorf("preview %.40q", r.Results[0].Image)
	}
}
