package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/image/draw"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/mnist"
)

var mnistTest struct {
	once sync.Once
	set  *mnist.Set
	err  error
}

// testSet is the real MNIST test set, read once per test binary.
func testSet(t *testing.T) *mnist.Set {
	t.Helper()
	dir := realData(t)
	mnistTest.once.Do(func() { mnistTest.set, mnistTest.err = mnist.Load(dir, "test", mnist.Options{}) })
	if mnistTest.err != nil {
		t.Fatal(mnistTest.err)
	}
	return mnistTest.set
}

// digitImage is MNIST test image i as stored: 28x28 grey, light on dark.
func digitImage(t *testing.T, i int) *image.Gray {
	t.Helper()
	s := testSet(t)
	px := s.Rows * s.Cols
	img := image.NewGray(image.Rect(0, 0, s.Cols, s.Rows))
	copy(img.Pix, s.Images[i*px:(i+1)*px])
	return img
}

// inverted84 is MNIST test image i as a person might draw it: black on
// white, RGB, 84x84, scaled up bilinearly.
func inverted84(t *testing.T, i int) image.Image {
	t.Helper()
	src := digitImage(t, i)
	inv := image.NewRGBA(src.Bounds())
	for y := 0; y < src.Rect.Dy(); y++ {
		for x := 0; x < src.Rect.Dx(); x++ {
			v := 255 - src.GrayAt(x, y).Y
			inv.Set(x, y, color.RGBA{v, v, v, 255})
		}
	}
	dst := image.NewRGBA(image.Rect(0, 0, 84, 84))
	draw.BiLinear.Scale(dst, dst.Bounds(), inv, inv.Bounds(), draw.Src, nil)
	return dst
}

func pngBytes(t *testing.T, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// imageFolder writes MNIST test images 0..n-1, made by mk, as
// dir/<label>/<i>.png: torchvision's ImageFolder layout.
func imageFolder(t *testing.T, dir string, n int, mk func(*testing.T, int) image.Image) {
	t.Helper()
	labels := testSet(t).Labels
	for i := 0; i < n; i++ {
		p := filepath.Join(dir, strconv.Itoa(int(labels[i])), fmt.Sprintf("%d.png", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, pngBytes(t, mk(t, i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func asIs(t *testing.T, i int) image.Image { return digitImage(t, i) }

// imageIndex is i of a path .../<label>/<i>.png.
func imageIndex(t *testing.T, path string) int {
	t.Helper()
	i, err := strconv.Atoi(strings.TrimSuffix(filepath.Base(path), ".png"))
	if err != nil {
		t.Fatalf("unexpected path %s", path)
	}
	return i
}

var summaryLine = regexp.MustCompile(`(?m)^(\d+) images(?:, (\d+) labelled: accuracy ([\d.]+)%, loss ([\d.]+))?(?:; (\d+) failed)?(?:; (\d+) unsure)?(?:; (\d+) flagged)? \(`)

// TestInferImageFolder: MNIST test digits written as PNG files give
// exactly the predictions of the IDX path, with labels from the folders.
func TestInferImageFolder(t *testing.T) {
	t.Parallel()
	const n = 200
	labels := testSet(t).Labels
	dir := t.TempDir()
	imageFolder(t, dir, n, asIs)

	r := run(t, "infer", trainedPTH, dir, "--format", "jsonl")
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	fromPNG := parseJSONL(t, r.stdout, false)
	// mnist:test of the real MNIST, all of it; under -short, of the
	// test set's first n images written back as IDX: the same n images
	// are compared, without classifying 9,800 more.
	idx := []string{"--data", realData(t)}
	whole := len(labels)
	if testing.Short() {
		idx, whole = []string{"--data", firstTestImages(t, n), "--skip-checksum"}, n
	}
	r = run(t, append([]string{"infer", trainedPTH, "mnist:test", "--format", "jsonl"}, idx...)...)
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	fromIDX := parseJSONL(t, r.stdout, false)
	if len(fromPNG) != n || len(fromIDX) != whole {
		t.Fatalf("%d predictions from PNG files, %d from mnist:test; want %d and %d", len(fromPNG), len(fromIDX), n, whole)
	}
	seen := map[int]bool{}
	for _, p := range fromPNG {
		i := imageIndex(t, p.Path)
		seen[i] = true
		q := fromIDX[i]
		if p.Label == nil || *p.Label != int(labels[i]) {
			t.Errorf("%s: label %v, want %d from its folder", p.Path, p.Label, labels[i])
		}
		if p.Prediction != q.Prediction {
			t.Errorf("%s: predicted %d, mnist:test/%d %d", p.Path, p.Prediction, i, q.Prediction)
		}
		for c := range p.Probabilities {
			if d := math.Abs(p.Probabilities[c] - q.Probabilities[c]); d > 1e-6 {
				t.Errorf("%s: probability of %d is %g, mnist:test/%d's %g", p.Path, c, p.Probabilities[c], i, q.Probabilities[c])
				break
			}
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct images classified, want %d", len(seen), n)
	}
}

// TestInferInvertedUpscaled: the same digits, black on white in RGB at
// three times MNIST's size, are prepared back into MNIST's form well enough
// to score at least 97 %.
func TestInferInvertedUpscaled(t *testing.T) {
	t.Parallel()
	n := 500
	if testing.Short() {
		n = 200
	}
	dir := t.TempDir()
	imageFolder(t, dir, n, inverted84)
	r := run(t, "infer", trainedPTH, dir, "--format", "jsonl")
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	recs := parseJSONL(t, r.stdout, false)
	correct := 0
	for _, p := range recs {
		if p.Label == nil {
			t.Fatalf("%s: no label", p.Path)
		}
		if p.Prediction == *p.Label {
			correct++
		}
	}
	acc := 100 * float64(correct) / float64(n)
	t.Logf("%d of %d inverted 84x84 RGB digits right: %.2f %%", correct, len(recs), acc)
	if len(recs) != n || acc < 97 {
		t.Errorf("%d predictions, accuracy %.2f %%; want %d, >= 97 %%", len(recs), acc, n)
	}
	m := summaryLine.FindStringSubmatch(r.stderr)
	if m == nil || m[1] != fmt.Sprint(n) || m[2] != fmt.Sprint(n) || m[3] != fmt.Sprintf("%.2f", acc) {
		t.Errorf("summary does not say %d images, %d labelled, accuracy %.2f%%:\n%s", n, n, acc, r.stderr)
	}
}

// TestInferFormats: table, csv and jsonl each parse, agree with each
// other, and list the top 3 digits when asked.
func TestInferFormats(t *testing.T) {
	t.Parallel()
	const n = 20
	dir := t.TempDir()
	imageFolder(t, dir, n, asIs)
	out := map[string]string{}
	for _, f := range []string{"table", "csv", "jsonl"} {
		r := run(t, "infer", trainedPTH, dir, "--format", f, "--top-k", "3")
		if r.code != 0 {
			t.Fatalf("--format %s: exit %d:\n%s", f, r.code, r.stderr)
		}
		if m := summaryLine.FindStringSubmatch(r.stderr); m == nil || m[1] != fmt.Sprint(n) || m[2] != fmt.Sprint(n) {
			t.Errorf("--format %s: no summary of %d labelled images:\n%s", f, n, r.stderr)
		}
		out[f] = r.stdout
	}

	recs := parseJSONL(t, out["jsonl"], true)
	if len(recs) != n {
		t.Fatalf("jsonl: %d lines, want %d", len(recs), n)
	}
	type row struct {
		pred  int
		conf  float64
		label int
	}
	want := map[string]row{}
	for _, p := range recs {
		sum := 0.0
		for _, v := range p.Probabilities {
			sum += v
		}
		if math.Abs(sum-1) > 1e-6 || p.Confidence != p.Probabilities[p.Prediction] {
			t.Errorf("%s: probabilities sum to %g, confidence %g of %v", p.Path, sum, p.Confidence, p.Probabilities)
		}
		if len(p.Top) != 3 || p.Top[0].Digit != p.Prediction ||
			!(p.Top[0].Probability >= p.Top[1].Probability && p.Top[1].Probability >= p.Top[2].Probability) {
			t.Errorf("%s: top %+v, want 3 entries, most probable first, led by %d", p.Path, p.Top, p.Prediction)
		}
		for _, k := range p.Top {
			if k.Probability != p.Probabilities[k.Digit] {
				t.Errorf("%s: top entry %+v, probability %g", p.Path, k, p.Probabilities[k.Digit])
			}
		}
		want[p.Path] = row{p.Prediction, p.Confidence, *p.Label}
	}

	recsCSV, err := csv.NewReader(strings.NewReader(out["csv"])).ReadAll()
	if err != nil {
		t.Fatalf("csv: %v\n%s", err, out["csv"])
	}
	if len(recsCSV) != n+1 || strings.Join(recsCSV[0], ",") != "path,prediction,confidence,label,top,status,flags,error" {
		t.Fatalf("csv: %d records, header %v", len(recsCSV), recsCSV[0])
	}
	for _, rec := range recsCSV[1:] {
		w, ok := want[rec[0]]
		pred, err1 := strconv.Atoi(rec[1])
		conf, err2 := strconv.ParseFloat(rec[2], 64)
		label, err3 := strconv.Atoi(rec[3])
		if !ok || err1 != nil || err2 != nil || err3 != nil || pred != w.pred || math.Abs(conf-w.conf) > 1e-6 || label != w.label {
			t.Errorf("csv record %q, jsonl says %+v", rec, w)
		}
		if top := strings.Fields(rec[4]); len(top) != 3 || !strings.HasPrefix(top[0], rec[1]+":") {
			t.Errorf("csv top %q", rec[4])
		}
		if rec[5] != "ok" || rec[7] != "" {
			t.Errorf("csv record %q: status %q, error %q; want ok and none", rec, rec[5], rec[7])
		}
	}

	lines := strings.Split(strings.TrimRight(out["table"], "\n"), "\n")
	if len(lines) != n+1 || strings.Join(strings.Fields(lines[0]), " ") != "PATH PREDICTION CONFIDENCE LABEL TOP FLAGS STATUS" {
		t.Fatalf("table: %d lines, header %q", len(lines), lines[0])
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != 4+3+2 || f[8] != "ok" {
			t.Errorf("table row %q: %d fields, want 9, the last ok", l, len(f))
			continue
		}
		w, ok := want[f[0]]
		conf, _ := strconv.ParseFloat(f[2], 64)
		if !ok || f[1] != strconv.Itoa(w.pred) || math.Abs(conf-w.conf) > 5e-5 || f[3] != strconv.Itoa(w.label) {
			t.Errorf("table row %q, jsonl says %+v", l, w)
		}
	}
}

// TestInferBadInput: each bad argument gets an error line naming it and
// exit status 1.
func TestInferBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("seven.png", pngBytes(t, digitImage(t, 0)))
	truncated := write("cut.png", pngBytes(t, digitImage(t, 0))[:60])
	notes := write("notes.txt", []byte("not an image\n"))
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		args    []string
		wants   []string
		perFile bool // the run goes on past the file, then a summary
	}{
		{"missing model", []string{filepath.Join(dir, "absent.onnx"), good}, []string{"absent.onnx"}, false},
		{"a training graph", []string{testtool.Testdata("onnx/seed_train_op9.onnx"), good}, []string{"seed_train_op9.onnx", "training graph"}, false},
		{"empty directory", []string{trainedPTH, empty}, []string{empty, "no images"}, false},
		{"missing image", []string{trainedPTH, filepath.Join(dir, "absent.png")}, []string{"absent.png"}, false},
		{"non-image by name", []string{trainedPTH, notes}, []string{notes}, true},
		{"truncated PNG", []string{trainedPTH, truncated}, []string{truncated}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := run(t, append([]string{"infer"}, c.args...)...)
			if !c.perFile {
				wantOnlyError(t, r, c.wants...)
				return
			}
			wantError(t, r, c.wants...)
			if m := summaryLine.FindStringSubmatch(r.stderr); m == nil || m[1] != "0" || m[5] != "1" {
				t.Errorf("no summary of 0 images, 1 failed:\n%s", r.stderr)
			}
			if strings.Count(r.stderr, "lenetkit: ") != 1 {
				t.Errorf("want one error line:\n%s", r.stderr)
			}
		})
	}
}

// TestInferGoesOn: in a directory with good digits, a truncated PNG and a
// text file, the good ones are classified, the text file is skipped with a
// note, the PNG reported, on standard error and in its row, and the exit
// status is 1 at the end.
func TestInferGoesOn(t *testing.T) {
	t.Parallel()
	const n = 10
	dir := t.TempDir()
	imageFolder(t, dir, n, asIs)
	cut := filepath.Join(dir, "7", "cut.png")
	if err := os.WriteFile(cut, pngBytes(t, digitImage(t, 0))[:80], 0o644); err != nil {
		t.Fatal(err)
	}
	readme := filepath.Join(dir, "README.txt")
	if err := os.WriteFile(readme, []byte("digits\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, "infer", trainedPTH, dir, "--format", "jsonl")
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	recs := parseJSONL(t, r.stdout, false)
	if len(recs) != n+1 {
		t.Errorf("%d records, want the %d good images and the truncated one", len(recs), n)
	}
	for _, p := range recs {
		switch {
		case p.Path == readme:
			t.Errorf("record for %s", p.Path)
		case (p.Path == cut) != (p.Status == "error"):
			t.Errorf("%s: status %q", p.Path, p.Status)
		case p.Path == cut && !strings.Contains(p.Error, "truncated PNG"):
			t.Errorf("%s: error %q, want it to say truncated PNG", p.Path, p.Error)
		}
	}
	wantError(t, r, cut)
	if !strings.Contains(r.stderr, "note: skipping "+readme) {
		t.Errorf("no note about skipping %s:\n%s", readme, r.stderr)
	}
	if m := summaryLine.FindStringSubmatch(r.stderr); m == nil || m[1] != fmt.Sprint(n) || m[5] != "1" {
		t.Errorf("no summary of %d images, 1 failed:\n%s", n, r.stderr)
	}
}

// TestInferInvert: on a digit drawn dark on light, --invert always agrees
// with auto and never reads the paper as ink, which changes the answer; a
// value other than auto, always and never is a usage error.
func TestInferInvert(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "seven.png")
	if err := os.WriteFile(path, pngBytes(t, inverted84(t, 0)), 0o644); err != nil {
		t.Fatal(err)
	}
	got := map[string]jsonlRecord{}
	for _, mode := range []string{"auto", "always", "never"} {
		r := run(t, "infer", trainedPTH, path, "--invert", mode, "--format", "jsonl")
		if r.code != 0 {
			t.Fatalf("--invert %s: exit %d:\n%s", mode, r.code, r.stderr)
		}
		recs := parseJSONL(t, r.stdout, false)
		if len(recs) != 1 {
			t.Fatalf("--invert %s: %d predictions, want 1", mode, len(recs))
		}
		got[mode] = recs[0]
	}
	if got["auto"].Prediction != 7 || got["always"].Prediction != 7 {
		t.Errorf("auto predicts %d, always %d; want the 7 it is", got["auto"].Prediction, got["always"].Prediction)
	}
	for c, p := range got["auto"].Probabilities {
		if p != got["always"].Probabilities[c] {
			t.Errorf("probability of %d: auto %g, always %g", c, p, got["always"].Probabilities[c])
		}
	}
	if never := got["never"]; never.Prediction == 7 {
		t.Errorf("--invert never predicts %d with confidence %.3f, want another digit: the paper is the ink", never.Prediction, never.Confidence)
	}

	for _, bad := range []string{"sometimes", "", "AUTO"} {
		r := run(t, "infer", trainedPTH, path, "--invert", bad)
		if r.code != 2 || !strings.Contains(r.stderr, fmt.Sprintf("--invert %q: want auto, always or never", bad)) ||
			strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || r.stdout != "" {
			t.Errorf("--invert %q: exit %d, stdout %q, stderr %q; want exit 2 and one line naming the value", bad, r.code, r.stdout, r.stderr)
		}
	}
}

// TestInferSavePreprocessed: --save-preprocessed writes, for every image
// file, the 28x28 grey digit the model saw, named after the file (below a
// directory argument, that directory's name and the folders in it first,
// so the ImageFolder labels survive); classified again, the saved digits
// give the same answers.
func TestInferSavePreprocessed(t *testing.T) {
	t.Parallel()
	const n = 6
	dir := t.TempDir()
	digits := filepath.Join(dir, "digits")
	imageFolder(t, digits, n, inverted84)
	single := filepath.Join(dir, "one.jpg") // read by its content; saved as one.png
	if err := os.WriteFile(single, pngBytes(t, digitImage(t, 7)), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "seen")
	r := run(t, "infer", trainedPTH, digits, single, "--save-preprocessed", out, "--format", "jsonl")
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	first := map[string]jsonlRecord{}
	for _, p := range parseJSONL(t, r.stdout, false) {
		rel, err := filepath.Rel(dir, p.Path)
		if err != nil {
			t.Fatal(err)
		}
		first[strings.TrimSuffix(rel, filepath.Ext(rel))+".png"] = p
	}
	if len(first) != n+1 {
		t.Fatalf("%d predictions, want %d", len(first), n+1)
	}
	for rel := range first {
		name := filepath.Join(out, rel)
		f, err := os.Open(name)
		if err != nil {
			t.Errorf("no digit saved for %s: %v", rel, err)
			continue
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if g, ok := img.(*image.Gray); !ok || g.Rect != image.Rect(0, 0, 28, 28) {
			t.Errorf("%s: %T of %v, want 28x28 grey", name, img, img.Bounds())
		}
	}
	if m, _ := filepath.Glob(filepath.Join(out, "*", "*", ".*")); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}

	r = run(t, "infer", trainedPTH, out, "--format", "jsonl")
	if r.code != 0 {
		t.Fatalf("the saved digits: exit %d:\n%s", r.code, r.stderr)
	}
	again := parseJSONL(t, r.stdout, false)
	if len(again) != n+1 {
		t.Fatalf("the saved digits: %d predictions, want %d", len(again), n+1)
	}
	for _, q := range again {
		rel, err := filepath.Rel(out, q.Path)
		if err != nil {
			t.Fatal(err)
		}
		p, ok := first[rel]
		if !ok {
			t.Errorf("saved %s, from no input", q.Path)
			continue
		}
		if (p.Label == nil) != (q.Label == nil) || p.Label != nil && *p.Label != *q.Label {
			t.Errorf("%s: label %v, its input's %v", q.Path, q.Label, p.Label)
		}
		for c := range p.Probabilities {
			if math.Abs(p.Probabilities[c]-q.Probabilities[c]) > 1e-9 {
				t.Errorf("%s: probability of %d is %g, its input's %g", q.Path, c, q.Probabilities[c], p.Probabilities[c])
				break
			}
		}
	}

	// A directory that cannot be made stops the run before any work.
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r = run(t, "infer", trainedPTH, single, "--save-preprocessed", filepath.Join(blocker, "seen"))
	wantOnlyError(t, r, "--save-preprocessed", blocker)
}
