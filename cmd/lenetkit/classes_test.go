package main

import (
	"bufio"
	"encoding/json"
	"image"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/onnx"
)

// bandModel writes a classifier of 3 classes taking 22x22 grey images:
// its preprocess metadata pads 18x18 images by 2 and normalises them with
// mean 0.5, std 0.5; output c is the mean of band c of the 18 rows inside
// the padding (6 rows each), plus a bias of 1.2 for class 2. Normalised,
// an image inked in band k alone scores k highest; without the
// normalisation the bias would make every image class 2.
func bandModel(t *testing.T) string {
	t.Helper()
	return bandModelMeta(t, `{"pad":2,"mean":0.5,"std":0.5}`)
}

// bandModelMeta is bandModel with another preprocess metadata entry, none
// for "".
func bandModelMeta(t *testing.T, meta string) string {
	t.Helper()
	const side, pad, classes, band = 22, 2, 3, 6
	w := make([]float32, classes*side*side)
	for c := range classes {
		for r := pad + c*band; r < pad+(c+1)*band; r++ {
			for col := pad; col < side-pad; col++ {
				w[c*side*side+r*side+col] = 1.0 / (band * (side - 2*pad))
			}
		}
	}
	dims := []*onnx.TensorShapeProto_Dimension{{Value: &onnx.TensorShapeProto_Dimension_DimParam{DimParam: "batch"}}}
	for _, d := range []int64{1, side, side} {
		dims = append(dims, &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: d}})
	}
	in := &onnx.ValueInfoProto{Name: "x", Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{
		ElemType: int32(onnx.TensorProto_FLOAT), Shape: &onnx.TensorShapeProto{Dim: dims}}}}}
	axis, transB := int64(1), int64(1)
	m := &onnx.ModelProto{IrVersion: 7, OpsetImport: []*onnx.OperatorSetIdProto{{Version: 13}},
		Graph: &onnx.GraphProto{Name: "bands",
			Node: []*onnx.NodeProto{
				{OpType: "Flatten", Input: []string{"x"}, Output: []string{"flat"}, Attribute: []*onnx.AttributeProto{{Name: "axis", Type: onnx.AttributeProto_INT, I: &axis}}},
				{OpType: "Gemm", Input: []string{"flat", "w", "b"}, Output: []string{"y"}, Attribute: []*onnx.AttributeProto{{Name: "transB", Type: onnx.AttributeProto_INT, I: &transB}}},
			},
			Initializer: []*onnx.TensorProto{
				{Name: "w", Dims: []int64{classes, side * side}, DataType: int32(onnx.TensorProto_FLOAT), FloatData: w},
				{Name: "b", Dims: []int64{classes}, DataType: int32(onnx.TensorProto_FLOAT), FloatData: []float32{0, 0, 1.2}},
			},
			Input: []*onnx.ValueInfoProto{in}, Output: []*onnx.ValueInfoProto{{Name: "y"}}}}
	if meta != "" {
		m.MetadataProps = []*onnx.StringStringEntryProto{{Key: onnx.MetaPreprocess, Value: meta}}
	}
	path := filepath.Join(t.TempDir(), "bands.onnx")
	if err := onnx.Write(path, m); err != nil {
		t.Fatal(err)
	}
	return path
}

// bandFolder writes an image folder of 3 classes, alpha, beta and gamma,
// as 54x54 PNGs white in one third of their rows: class k's in third k,
// 3 a class, and beta/odd.png in the first third, which bandModel takes
// for alpha. It returns the folder and odd.png's path.
func bandFolder(t *testing.T) (dir, odd string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "bands")
	write := func(class, name string, band int) string {
		img := image.NewGray(image.Rect(0, 0, 54, 54))
		for r := band * 18; r < (band+1)*18; r++ {
			for c := range 54 {
				img.Pix[r*54+c] = 255
			}
		}
		// A speck, so that no two images are alike.
		img.Pix[(band*18+9)*54+len(name)] = 0
		path := filepath.Join(dir, class, name)
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, pngBytes(t, img), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for k, class := range []string{"alpha", "beta", "gamma"} {
		for _, name := range []string{"a.png", "bb.png", "ccc.png"} {
			write(class, name, k)
		}
	}
	return dir, write("beta", "odd.png", 0)
}

// TestEvalInferOwnClasses: a graph of 3 classes and a 22x22 input is
// measured on a folder of 3 classes made to its size, with its declared
// padding and normalisation: 9 of 10 right, the one wrong image named, and
// accuracy, confusion matrix and rows by the folder's class names; infer
// --data gives each image its 3 probabilities and the same figures.
func TestEvalInferOwnClasses(t *testing.T) {
	t.Parallel()
	model := bandModel(t)
	dir, odd := bandFolder(t)
	names := []string{"alpha", "beta", "gamma"}

	e := evalJSONOf(t, model, "--data", dir, "--prep", "resize", "--confusion")
	if e.Images != 10 || e.Correct != 9 || e.Accuracy != 90 || !reflect.DeepEqual(e.Classes, names) || !strings.Contains(e.Data, "image folder") {
		t.Errorf("eval: %d images, %d correct, %.2f %%, classes %q, data %q; want 10, 9, 90 %%, %q", e.Images, e.Correct, e.Accuracy, e.Classes, e.Data, names)
	}
	if want := [][]int{{3, 0, 0}, {1, 3, 0}, {0, 0, 3}}; !reflect.DeepEqual(e.Confusion, want) {
		t.Errorf("confusion %v, want %v", e.Confusion, want)
	}
	checkPerClass(t, e, 3)
	for k, p := range e.PerClass {
		if p.Class != names[k] || p.Correct != 3 {
			t.Errorf("per class %d: %+v, want %s with 3 correct", k, p, names[k])
		}
	}

	text := run(t, "eval", model, "--data", dir, "--prep", "resize", "--confusion")
	if text.code != 0 || strings.Contains(text.stdout, "Seed reported") || !strings.Contains(text.stdout, "Accuracy: 90.00%") ||
		!strings.Contains(text.stdout, "rows: true class") || rowOf(text.stdout, "beta") != "beta 1 3 0" {
		t.Errorf("eval's text: exit %d\n%s%s", text.code, text.stdout, text.stderr)
	}

	// The report names the wrong image's classes and file.
	rdir := filepath.Join(t.TempDir(), "report")
	if r := run(t, "eval", model, "--data", dir, "--prep", "resize", "--report", rdir, "-q"); r.code != 0 {
		t.Fatalf("eval --report: exit %d: %s", r.code, r.stderr)
	}
	b, err := os.ReadFile(filepath.Join(rdir, "eval.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep evalReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Misclassified) != 1 || rep.Misclassified[0].Class != "beta" || rep.Misclassified[0].Predicted != "alpha" ||
		rep.Misclassified[0].File != odd || rep.Misclassified[0].Label != 1 || rep.Misclassified[0].Prediction != 0 {
		t.Errorf("eval.json's misclassified: %+v; want %s, beta taken for alpha", rep.Misclassified, odd)
	}
	for _, f := range []string{"confusion.png", "misclassified.png"} {
		if _, err := os.Stat(filepath.Join(rdir, f)); err != nil {
			t.Error(err)
		}
	}

	r := run(t, "infer", model, "--data", dir, "--prep", "resize", "--format", "jsonl", "--top-k", "3")
	if r.code != 0 {
		t.Fatalf("infer: exit %d: %s", r.code, r.stderr)
	}
	rows := 0
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	for sc.Scan() {
		var rec struct {
			Path            string
			Prediction      int
			PredictionClass string    `json:"prediction_class"`
			LabelClass      string    `json:"label_class"`
			Probabilities   []float64 `json:"probabilities"`
			Top             []ranked
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("%q: %v", sc.Text(), err)
		}
		rows++
		want := filepath.Base(filepath.Dir(rec.Path))
		if rec.Path == odd {
			want = "alpha"
		}
		if rec.PredictionClass != want || names[rec.Prediction] != want || rec.LabelClass != filepath.Base(filepath.Dir(rec.Path)) ||
			len(rec.Probabilities) != 3 || len(rec.Top) != 3 || rec.Top[0].Class != want {
			t.Errorf("infer's record %s; want the prediction %s", sc.Text(), want)
		}
	}
	m := inferSummary.FindStringSubmatch(r.stderr)
	if rows != 10 || m == nil || m[1] != "10" || m[3] != "90.00" || m[4] != strings.TrimSpace(strings.TrimPrefix(lineWith(text.stdout, "Average Loss:"), "Average Loss:")) ||
		!strings.Contains(r.stderr, "Per class:") || !strings.Contains(r.stderr, "gamma") {
		t.Errorf("infer: %d rows, summary %q; want 10 and eval's figures:\n%s", rows, m, r.stderr)
	}

	// The table names the classes too; --top-k is bounded by them.
	r = run(t, "infer", model, "--data", dir, "--prep", "resize")
	if line := lineWith(r.stdout, "odd.png"); r.code != 0 || !strings.Contains(line, " alpha ") || !strings.Contains(line, " beta ") {
		t.Errorf("infer's row of odd.png: %q (exit %d)", line, r.code)
	}
	r = run(t, "infer", model, "--data", dir, "--prep", "resize", "--top-k", "4")
	if r.code != 2 || !strings.Contains(r.stderr, "--top-k 4: want 1 to 3") {
		t.Errorf("--top-k 4 of 3 classes: exit %d, %q", r.code, r.stderr)
	}
}

// lineWith is the first line of s that contains sub, or "".
func lineWith(s, sub string) string {
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, sub) {
			return line
		}
	}
	return ""
}

// rowOf is the first line of s whose first word is first, its words
// joined by single spaces, or "".
func rowOf(s, first string) string {
	for _, line := range strings.Split(s, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == first {
			return strings.Join(f, " ")
		}
	}
	return ""
}

// TestOwnClassesRefused: data of other than the model's number of classes
// is refused in one line naming both counts, and a graph of 3 classes
// without --data is refused by eval, saying to give its data; infer takes
// its files, resized.
func TestOwnClassesRefused(t *testing.T) {
	t.Parallel()
	model := bandModel(t)
	dir, odd := bandFolder(t)
	digits := cleanFolder(t)
	for _, c := range []struct {
		args  []string
		wants []string
	}{
		{[]string{trainedPTH, "--data", dir, "--prep", "resize"}, []string{"the model scores 10 classes, the data has 3:", "--labels", "--classes 3"}},
		{[]string{testtool.Testdata("onnx/cnn28.onnx"), "--data", dir, "--prep", "resize", "--mean", "0.5", "--std", "0.5"}, []string{"the model scores 10 classes, the data has 3:", "cnn28.onnx --classes 3"}},
		// The digits lack 8s: 9 classes, numbered in their sorted order for
		// a model of other than 10 outputs, as lenetkit train numbers them.
		{[]string{model, "--data", digits, "--prep", "resize"}, []string{"the model scores 3 classes, the data has 9:", "--classes 9"}},
	} {
		for _, cmd := range []string{"eval", "infer"} {
			wantOnlyError(t, run(t, append([]string{cmd}, c.args...)...), c.wants...)
		}
	}
	wantOnlyError(t, run(t, "eval", model), "gives 3 values per image; a digit classifier gives 10", "give --data DIR")
	// IDX images are resized by --prep resize alone: what to give.
	wantOnlyError(t, run(t, "eval", model, "--data", realData(t)), "28x28 digits", "do not fit 18x18", "--prep resize")
	wantOnlyError(t, run(t, "eval", model, "--data", realData(t), "--prep", "resize"), "the model scores 3 classes, the data has 10:")
	// infer classifies its files for it, prepared as --prep says, which
	// must fit its 18x18 images.
	r := run(t, "infer", model, odd)
	if line := strings.TrimSpace(r.stderr); r.code != 2 || strings.Contains(line, "\n") || !strings.Contains(line, "--prep digit makes 28x28 digits; "+model+" takes 18x18 images") {
		t.Errorf("infer of a file for an 18x18 model, digit preparation: exit %d:\n%s", r.code, r.stderr)
	}
	r = run(t, "infer", model, odd, "--prep", "resize", "--format", "csv")
	if r.code != 0 || !strings.Contains(r.stdout, odd+",0,") {
		t.Errorf("infer --prep resize: exit %d, want odd.png (inked in the first band) as class 0:\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestTrainedClassesEvalInfer: a graph lenetkit train gave 3 classes on a
// folder of 3 classes is evaluated and used by infer on that folder, its
// images resized to the graph's 28x28 as train made them: the same
// figures from both, rows by the folder's class names.
func TestTrainedClassesEvalInfer(t *testing.T) {
	t.Parallel()
	dir, _ := bandFolder(t)
	out := filepath.Join(t.TempDir(), "cnn28-3.onnx")
	r := run(t, "train", "--model", testtool.Testdata("onnx/cnn28.onnx"), "--classes", "3", "--epochs", "1", "--batch-size", "4",
		"--data", dir, "--prep", "resize", "--out", out, "-q")
	if r.code != 0 {
		t.Fatalf("train: exit %d: %s", r.code, r.stderr)
	}
	e := evalJSONOf(t, out, "--data", dir, "--prep", "resize")
	checkPerClass(t, e, 3)
	if e.Images != 10 || e.PreprocessAssumed != "" || e.PerClass[2].Class != "gamma" || e.PerClass[1].Images != 4 {
		t.Errorf("eval of the trained graph: %d images, per class %+v, assumed %q; want 10, gamma third with 3, beta 4, nothing assumed",
			e.Images, e.PerClass, e.PreprocessAssumed)
	}
	r = run(t, "infer", out, "--data", dir, "--prep", "resize", "--format", "csv")
	m := inferSummary.FindStringSubmatch(r.stderr)
	if r.code != 0 || m == nil || m[1] != "10" || m[3] != strconv.FormatFloat(e.Accuracy, 'f', 2, 64) || m[4] != strconv.FormatFloat(e.Loss, 'f', 4, 64) {
		t.Errorf("infer: exit %d, summary %q; eval %.2f %%, %.4f:\n%s", r.code, m, e.Accuracy, e.Loss, r.stderr)
	}
	if n := strings.Count(r.stdout, "\n"); n != 11 || !strings.Contains(r.stdout, ",gamma,") {
		t.Errorf("infer's csv: %d lines, want 11 naming the classes:\n%s", n, r.stdout)
	}
}

// TestOwnClassesAssumedPadding: a 22x22 graph that declares no
// preprocessing is given 22x22 images, unpadded, and the note and
// "preprocess_assumed" say so beside the assumed mean and std.
func TestOwnClassesAssumedPadding(t *testing.T) {
	t.Parallel()
	model := bandModelMeta(t, "")
	dir, _ := bandFolder(t)
	r := run(t, "eval", model, "--data", dir, "--prep", "resize", "--format", "json")
	var e evalResult
	if err := json.Unmarshal([]byte(r.stdout), &e); r.code != 0 || err != nil {
		t.Fatalf("eval: exit %d, %v: %s", r.code, err, r.stderr)
	}
	const want = "22x22 images padded by 0, mean 0, std 1 on pixels in [0,1]"
	if e.PreprocessAssumed != want || !strings.Contains(r.stderr, "assuming "+want) || e.Images != 10 {
		t.Errorf("preprocess_assumed %q, %d images, stderr %q; want %q, 10", e.PreprocessAssumed, e.Images, r.stderr, want)
	}
	e = evalJSONOf(t, model, "--data", dir, "--prep", "resize", "--mean", "0.5", "--std", "0.5")
	if e.PreprocessAssumed != "22x22 images padded by 0" {
		t.Errorf("with --mean and --std: preprocess_assumed %q", e.PreprocessAssumed)
	}
}

// TestInferNamedModel: a digit model that names its classes (metadata
// classes) has infer name its predictions of image files by them, in the
// text rows and as JSON's prediction_class beside the number; --labels
// names them otherwise.
func TestInferNamedModel(t *testing.T) {
	t.Parallel()
	model := testtool.WithMetadata(t, testtool.Testdata("onnx/cnn28.onnx"), onnx.MetaClasses, `["zero","one","two","three","four","five","six","seven","eight","nine"]`)
	img := testtool.Testdata("images/clean/00000.png") // a 7
	r := run(t, "infer", model, img, "--mean", "0.5", "--std", "0.5", "--format", "jsonl")
	var rec struct {
		Prediction int    `json:"prediction"`
		Class      string `json:"prediction_class"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rec); r.code != 0 || err != nil || rec.Prediction != 7 || rec.Class != "seven" {
		t.Errorf("exit %d, %v, %+v; want 7 named seven:\n%s%s", r.code, err, rec, r.stdout, r.stderr)
	}
	if r := run(t, "infer", model, img, "--mean", "0.5", "--std", "0.5"); !strings.Contains(r.stdout, "  seven  ") {
		t.Errorf("the text row does not name the prediction seven:\n%s", r.stdout)
	}
	names := filepath.Join(t.TempDir(), "names.txt")
	os.WriteFile(names, []byte(strings.Join(strings.Split("abcdefghij", ""), "\n")), 0o644)
	if r := run(t, "infer", model, img, "--mean", "0.5", "--std", "0.5", "--labels", names); !strings.Contains(r.stdout, "  h  ") {
		t.Errorf("--labels does not name the prediction h:\n%s", r.stdout)
	}
}

// TestDoctorOtherClassifier: doctor gives the preprocessing of a model of
// 3 classes of 22x22 images that declares it, as eval --data prepares
// data for it.
func TestDoctorOtherClassifier(t *testing.T) {
	t.Parallel()
	r := run(t, "doctor", bandModel(t))
	if r.code != 0 || !strings.Contains(r.stdout, "Preprocess: pad 2, mean 0.5, std 0.5, declared") || strings.Contains(r.stdout, "digit pipeline") {
		t.Errorf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestLabelsNameFolders: --labels naming a model's classes takes a folder
// of some of them, named so, in any order: eval measures its images as
// the same images in folders numbered by class, and infer labels each file
// by its folder's name.
func TestLabelsNameFolders(t *testing.T) {
	t.Parallel()
	digits := cleanFolder(t)
	words := []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}
	named, numbered := filepath.Join(t.TempDir(), "named"), filepath.Join(t.TempDir(), "numbered")
	for _, k := range []int{7, 2, 9} {
		files, err := filepath.Glob(filepath.Join(digits, strconv.Itoa(k), "*.png"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no clean images of %d: %v", k, err)
		}
		for _, dir := range []string{filepath.Join(named, words[k]), filepath.Join(numbered, strconv.Itoa(k))} {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, f := range files {
				b, _ := os.ReadFile(f)
				if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	labels := filepath.Join(t.TempDir(), "words.txt")
	if err := os.WriteFile(labels, []byte(strings.Join(words, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	model := testtool.Testdata("onnx/cnn28.onnx")
	byName := evalJSONOf(t, model, "--data", named, "--labels", labels, "--mean", "0.5", "--std", "0.5")
	byNumber := evalJSONOf(t, model, "--data", numbered, "--mean", "0.5", "--std", "0.5")
	if byName.Images == 0 || byName.Images != byNumber.Images || byName.Accuracy != byNumber.Accuracy || len(byName.PerClass) != 10 || byName.PerClass[7].Class != "seven" {
		t.Errorf("by name: %d images, %.2f %%, %d classes; by number: %d images, %.2f %%", byName.Images, byName.Accuracy, len(byName.PerClass), byNumber.Images, byNumber.Accuracy)
	}
	r := run(t, "infer", model, named, "--labels", labels, "--mean", "0.5", "--std", "0.5", "--format", "csv")
	rows := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(rows) < 2 || rows[0] != "path,prediction,confidence,label,status,flags,error" {
		t.Fatalf("infer: exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, row := range rows[1:] {
		f := strings.Split(row, ",")
		if want := filepath.Base(filepath.Dir(f[0])); f[3] != want {
			t.Errorf("infer labels %s %q, want its folder's name %q", f[0], f[3], want)
		}
	}
}

// TestFirstLabel: MNIST's test labels raised by one (labels 1 to 10, as
// EMNIST letters' run 1 to 26) against a 10-output model: eval says to
// give --first-label 1, and with it measures what it measures on MNIST.
func TestFirstLabel(t *testing.T) {
	t.Parallel()
	testtool.SkipShort(t)
	dir, model := dataCopy(t), testtool.Testdata("onnx/mlp_flat.onnx")
	labels := filepath.Join(dir, "t10k-labels-idx1-ubyte")
	b, err := os.ReadFile(labels)
	if err != nil {
		t.Fatal(err)
	}
	for i := 8; i < len(b); i++ {
		b[i]++
	}
	if err := os.WriteFile(labels, b, 0o644); err != nil {
		t.Fatal(err)
	}
	wantOnlyError(t, run(t, "eval", model, "--data", dir, "--skip-checksum", "-q"), "labels start at 1", "give --first-label 1")
	var plain, shifted struct{ Accuracy, Loss float64 }
	for _, c := range []struct {
		args []string
		into *struct{ Accuracy, Loss float64 }
	}{{[]string{"eval", model, "--format", "json"}, &plain}, {[]string{"eval", model, "--data", dir, "--skip-checksum", "--first-label", "1", "--format", "json"}, &shifted}} {
		r := run(t, c.args...)
		if err := json.Unmarshal([]byte(r.stdout), c.into); r.code != 0 || err != nil {
			t.Fatalf("%v: exit %d, %v: %s", c.args, r.code, err, r.stderr)
		}
	}
	if plain != shifted || plain.Accuracy < 90 {
		t.Errorf("on MNIST %+v, on its labels raised by one with --first-label 1 %+v", plain, shifted)
	}
}
