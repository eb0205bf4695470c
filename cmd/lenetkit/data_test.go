package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
)

// cleanFolder copies testdata/images/clean into dir/<label>/ by its
// labels.csv: an image folder of 20 digits in which some digits have no
// folder.
func cleanFolder(t *testing.T) string {
	t.Helper()
	src := testtool.Testdata("images/clean")
	b, err := os.ReadFile(filepath.Join(src, "labels.csv"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "digits")
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n")[1:] {
		f := strings.Split(line, ",")
		img, err := os.ReadFile(filepath.Join(src, f[0]))
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Join(dir, f[1]), 0o755)
		if err := os.WriteFile(filepath.Join(dir, f[1], f[0]), img, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// evalJSONOf runs eval with --format json and decodes what it printed.
func evalJSONOf(t *testing.T, args ...string) evalResult {
	t.Helper()
	r := run(t, append(append([]string{"eval"}, args...), "--format", "json")...)
	if r.code != 0 {
		t.Fatalf("eval %s: exit %d:\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
	var e evalResult
	if err := json.Unmarshal([]byte(r.stdout), &e); err != nil {
		t.Fatalf("eval printed %q: %v", r.stdout, err)
	}
	return e
}

// inferSummary is infer's summary line: images, labelled, accuracy, loss.
var inferSummary = regexp.MustCompile(`(\d+) images, (\d+) labelled: accuracy ([0-9.]+)%, loss ([0-9.]+)`)

// checkPerClass fails unless the per-class rows add up to the totals.
func checkPerClass(t *testing.T, e evalResult, classes int) {
	t.Helper()
	images, correct := 0, 0
	for _, p := range e.PerClass {
		images, correct = images+p.Images, correct+p.Correct
	}
	if len(e.PerClass) != classes || images != e.Images || correct != e.Correct {
		t.Errorf("%d per-class rows summing to %d images, %d correct; want %d rows, %d, %d", len(e.PerClass), images, correct, classes, e.Images, e.Correct)
	}
}

// TestEvalDataFolder: eval --data of an image folder measures what infer
// gives the same files walked as a directory (the same digit preparation,
// folder names as labels), per class too; --labels names the classes.
func TestEvalDataFolder(t *testing.T) {
	t.Parallel()
	dir := cleanFolder(t)
	names := filepath.Join(t.TempDir(), "names.txt")
	os.WriteFile(names, []byte("zero\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\n"), 0o644)
	for _, model := range []string{trainedPTH, testtool.Testdata("onnx/cnn28.onnx")} {
		t.Run(filepath.Base(model), func(t *testing.T) {
			e := evalJSONOf(t, model, "--data", dir, "--labels", names)
			walk := run(t, "infer", model, dir, "--format", "csv")
			m := inferSummary.FindStringSubmatch(walk.stderr)
			if m == nil {
				t.Fatalf("infer printed no summary:\n%s", walk.stderr)
			}
			acc, _ := strconv.ParseFloat(m[3], 64)
			loss, _ := strconv.ParseFloat(m[4], 64)
			if m[1] != "20" || e.Images != 20 || strconv.FormatFloat(e.Accuracy, 'f', 2, 64) != m[3] || strconv.FormatFloat(e.Loss, 'f', 4, 64) != m[4] {
				t.Errorf("eval: %d images, %.2f%%, %.4f; infer: %s images, %g%%, %g", e.Images, e.Accuracy, e.Loss, m[1], acc, loss)
			}
			checkPerClass(t, e, 10)
			if e.PerClass[7].Class != "seven" || e.PerClass[8].Images != 0 || !strings.Contains(e.Data, "image folder") {
				t.Errorf("per class %+v, data %q: want names from --labels, no eights, an image folder", e.PerClass, e.Data)
			}
			own := run(t, "infer", model, "--data", dir, "--format", "csv")
			if own.code != 0 || strings.Count(own.stdout, "\n") != 21 || !strings.Contains(own.stdout, filepath.Join(dir, "7")) {
				t.Errorf("infer --data: exit %d, %d lines:\n%s\n%s", own.code, strings.Count(own.stdout, "\n"), own.stdout, own.stderr)
			}
			if m2 := inferSummary.FindStringSubmatch(own.stderr); m2 == nil || m2[3] != m[3] || m2[4] != m[4] || !strings.Contains(own.stderr, "Per class:") {
				t.Errorf("infer --data summary %q, the walk's %q; want the same figures and a per-class table", m2, m[0])
			}
		})
	}
	// Resized rather than prepared as digits: another input, still all 20.
	e := evalJSONOf(t, trainedPTH, "--data", dir, "--prep", "resize:area")
	checkPerClass(t, e, 10)
}

// TestEvalDataFashionMNIST: eval --data of Debian's Fashion-MNIST measures
// its 10,000 test images, 1,000 a class, names the set, and does not hold
// the seed's MNIST figures up to it; infer --data agrees.
func TestEvalDataFashionMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("reads Fashion-MNIST's 10,000 test images; skipped with -short")
	}
	fashionDir := testtool.FashionMNIST(t)
	t.Parallel()
	model := testtool.Testdata("onnx/cnn28.onnx")
	e := evalJSONOf(t, model, "--data", fashionDir, "--mean", "0.5", "--std", "0.5")
	checkPerClass(t, e, 10)
	for _, p := range e.PerClass {
		if p.Images != 1000 {
			t.Errorf("class %s: %d images, want 1000", p.Class, p.Images)
		}
	}
	if e.Images != 10000 || !strings.Contains(e.Data, "Fashion-MNIST (IDX)") {
		t.Errorf("%d images of %q, want Fashion-MNIST's 10000", e.Images, e.Data)
	}
	text := run(t, "eval", model, "--data", fashionDir, "--mean", "0.5", "--std", "0.5")
	if strings.Contains(text.stdout, "Seed reported") || !strings.Contains(text.stdout, "Per class:") {
		t.Errorf("eval's text on Fashion-MNIST:\n%s", text.stdout)
	}
	own := run(t, "infer", model, "--data", fashionDir, "--mean", "0.5", "--std", "0.5", "--format", "jsonl")
	m := inferSummary.FindStringSubmatch(own.stderr)
	if m == nil || m[1] != "10000" || m[3] != strconv.FormatFloat(e.Accuracy, 'f', 2, 64) {
		t.Errorf("infer --data: %q, eval %.2f%%", m, e.Accuracy)
	}
}

// TestEvalDataErrors: bad data and bad flags are one line naming what is
// wrong, exit 1 (2 for a flag's value), nothing on standard output.
func TestEvalDataErrors(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	folder := func(name string, extra map[string][]byte) string {
		dir := filepath.Join(root, name)
		png, err := os.ReadFile(testtool.Testdata("images/clean/00000.png"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"3/a.png", "7/b.png"} {
			os.MkdirAll(filepath.Join(dir, filepath.Dir(f)), 0o755)
			os.WriteFile(filepath.Join(dir, f), png, 0o644)
		}
		for f, b := range extra {
			os.MkdirAll(filepath.Join(dir, filepath.Dir(f)), 0o755)
			if b != nil {
				os.WriteFile(filepath.Join(dir, f), b, 0o644)
			}
		}
		return dir
	}
	idxDir := func(name string, images, labels []byte) string {
		dir := filepath.Join(root, name)
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "t10k-images-idx3-ubyte"), images, 0o644)
		os.WriteFile(filepath.Join(dir, "t10k-labels-idx1-ubyte"), labels, 0o644)
		return dir
	}
	header := func(magic uint32, dims ...int) []byte {
		b := []byte{0, 0, byte(magic >> 8), byte(magic)}
		for _, d := range dims {
			b = append(b, byte(d>>24), byte(d>>16), byte(d>>8), byte(d))
		}
		return b
	}
	pix := make([]byte, 3*784)
	names := filepath.Join(root, "three.txt")
	os.WriteFile(names, []byte("a\nb\nc\n"), 0o644)
	eleven := map[string][]byte{}
	for k := range 11 {
		eleven[filepath.Join("c"+strconv.Itoa(k+10), "x.png")], _ = os.ReadFile(testtool.Testdata("images/clean/00001.png"))
	}
	cases := []struct {
		name  string
		args  []string
		code  int
		wants []string
	}{
		{"missing directory", []string{"--data", filepath.Join(root, "nowhere")}, 1, []string{"nowhere", "no such file"}},
		{"empty class folder", []string{"--data", folder("empty", map[string][]byte{"5/notes.txt": []byte("x")})}, 1,
			[]string{filepath.Join("empty", "5"), "no PNG, JPEG, GIF or BMP image", "add its images"}},
		{"not an image", []string{"--data", folder("text", map[string][]byte{"7/c.png": []byte("not a picture")})}, 1,
			[]string{filepath.Join("7", "c.png"), "not a PNG, JPEG, GIF or BMP image", "remove it"}},
		{"truncated IDX", []string{"--data", idxDir("cut", append(header(0x803, 3, 28, 28), pix[:1000]...), append(header(0x801, 3), 1, 2, 3)), "--skip-checksum"}, 1,
			[]string{"t10k-images-idx3-ubyte", "truncated"}},
		{"counts disagree", []string{"--data", idxDir("counts", append(header(0x803, 3, 28, 28), pix...), append(header(0x801, 2), 1, 2)), "--skip-checksum"}, 1,
			[]string{"t10k-labels-idx1-ubyte", "2 labels for the 3 images"}},
		{"unknown IDX unchecked", []string{"--data", idxDir("unknown", append(header(0x803, 3, 28, 28), pix...), append(header(0x801, 3), 1, 2, 3))}, 1,
			[]string{"checksum mismatch", "--skip-checksum"}},
		{"labels file of another count", []string{"--data", folder("named", nil), "--labels", names}, 1, []string{"--labels", "3 class names", "numbered up to 7"}},
		{"more classes than outputs", []string{"--data", folder("eleven", eleven)}, 1, []string{"13 classes", "scores for 10"}},
		{"bad --prep", []string{"--data", folder("prep", nil), "--prep", "stretch"}, 2, []string{`--prep "stretch"`, "digit, resize"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, cmd := range []string{"eval", "infer"} {
				r := run(t, append([]string{cmd, trainedPTH}, c.args...)...)
				line := strings.TrimRight(r.stderr, "\n")
				ok := r.code == c.code && r.stdout == "" && strings.HasPrefix(line, "lenetkit: ") && !strings.Contains(line, "\n")
				for _, w := range c.wants {
					ok = ok && strings.Contains(line, w)
				}
				if !ok {
					t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit %d and one line with %q", cmd, r.code, r.stdout, r.stderr, c.code, c.wants)
				}
			}
		})
	}
}
