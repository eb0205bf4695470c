package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
)

// nondigitFolder copies testdata/images/nondigits (reference/nondigits.py)
// and two clean MNIST digits into one folder, as a user's mixed folder of
// inputs, and returns it with the number of files.
func nondigitFolder(t *testing.T) (string, int) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mixed")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	srcs, err := filepath.Glob(testtool.Testdata(filepath.Join("images", "nondigits", "*.png")))
	if err != nil || len(srcs) != 6 {
		t.Fatalf("testdata/images/nondigits: %d PNGs (%v), want the 6 reference/nondigits.py makes", len(srcs), err)
	}
	srcs = append(srcs, testtool.Testdata(filepath.Join("images", "clean", "00000.png")), testtool.Testdata(filepath.Join("images", "clean", "00001.png")))
	for _, src := range srcs {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(src)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, len(srcs)
}

// inputWant is what one input of nondigitFolder should get.
type inputWant struct {
	status string   // without --min-confidence
	flags  []string // in the order infer gives them
	unsure bool     // with --min-confidence 0.9
}

// nondigitWants is per file name: the clean digits pass unflagged, the
// letters and "42" are flagged (the model answers them with a digit all the
// same), the blank ones get an error row.
var nondigitWants = map[string]inputWant{
	"00000.png":      {"ok", nil, false},
	"00001.png":      {"ok", nil, false},
	"letter_g.png":   {"ok", []string{"low-confidence"}, true},
	"letter_A.png":   {"ok", []string{"low-confidence"}, true},
	"42.png":         {"ok", []string{"several-components", "low-confidence"}, true},
	"7_on_desk.png":  {"ok", []string{"guessed-preparation", "low-confidence"}, true},
	"blank.png":      {"error", nil, false},
	"blank_grey.png": {"error", nil, false},
}

// TestInferEveryInputGetsARow: in every format, every input of a folder
// with letters, "42", blank images and digits gets a row, in order, with
// its status, flags and error; the blank ones are also reported on
// standard error, and the exit code is 1.
func TestInferEveryInputGetsARow(t *testing.T) {
	t.Parallel()
	dir, n := nondigitFolder(t)
	for _, format := range []string{"text", "csv", "json", "jsonl"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			r := run(t, "infer", trainedPTH, dir, "--format", format)
			if r.code != 1 {
				t.Errorf("exit %d, want 1 for the blank images:\n%s", r.code, r.stderr)
			}
			if strings.Count(r.stderr, "blank image: no digit found") != 2 {
				t.Errorf("stderr does not report the two blank images:\n%s", r.stderr)
			}
			if m := summaryLine.FindStringSubmatch(r.stderr); m == nil || m[1] != "6" || m[5] != "2" || m[7] != "4" {
				t.Errorf("no summary of 6 images, 2 failed, 4 flagged:\n%s", r.stderr)
			}
			type row struct{ path, status, flags, err string }
			var rows []row
			switch format {
			case "text":
				lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
				if strings.Join(strings.Fields(lines[0]), " ") != "PATH PREDICTION CONFIDENCE LABEL FLAGS STATUS" {
					t.Fatalf("header %q", lines[0])
				}
				for _, l := range lines[1:] {
					f := strings.Fields(l)
					if len(f) < 6 {
						t.Fatalf("row %q: %d fields", l, len(f))
					}
					status, msg, _ := strings.Cut(strings.Join(f[5:], " "), ": ")
					rows = append(rows, row{f[0], status, strings.ReplaceAll(f[4], "-", ""), msg})
					if status == "error" && (f[1] != "-" || f[2] != "-") {
						t.Errorf("error row %q has an answer", l)
					}
				}
				// "-" stands for no flags; the flags' own dashes are
				// removed alike on both sides below.
			case "csv":
				recs, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
				if err != nil {
					t.Fatal(err)
				}
				if strings.Join(recs[0], ",") != "path,prediction,confidence,label,status,flags,error" {
					t.Fatalf("header %q", recs[0])
				}
				for _, rec := range recs[1:] {
					rows = append(rows, row{rec[0], rec[4], rec[5], rec[6]})
					if rec[4] == "error" && (rec[1] != "" || rec[2] != "") {
						t.Errorf("error record %q has an answer", rec)
					}
				}
			case "json", "jsonl":
				out := r.stdout
				if format == "json" {
					var all []json.RawMessage
					if err := json.Unmarshal([]byte(out), &all); err != nil {
						t.Fatalf("not one JSON array: %v", err)
					}
					var b bytes.Buffer
					for _, a := range all {
						if err := json.Compact(&b, a); err != nil {
							t.Fatal(err)
						}
						b.WriteByte('\n')
					}
					out = b.String()
				}
				for _, rec := range parseJSONL(t, out, false) {
					rows = append(rows, row{rec.Path, rec.Status, strings.Join(rec.Flags, ","), rec.Error})
				}
			}
			if len(rows) != n {
				t.Fatalf("%d rows, want one for each of the %d inputs:\n%s", len(rows), n, r.stdout)
			}
			if !slices.IsSortedFunc(rows, func(a, b row) int { return strings.Compare(a.path, b.path) }) {
				t.Errorf("rows out of the walk's order: %v", rows)
			}
			for _, got := range rows {
				want, ok := nondigitWants[filepath.Base(got.path)]
				wantFlags := strings.Join(want.flags, ",")
				if format == "text" {
					wantFlags = strings.ReplaceAll(wantFlags, "-", "")
				}
				switch {
				case !ok:
					t.Errorf("row for %s, not an input", got.path)
				case got.status != want.status || got.flags != wantFlags:
					t.Errorf("%s: status %q, flags %q; want %q, %q", got.path, got.status, got.flags, want.status, wantFlags)
				case (got.status == "error") != (got.err == "blank image: no digit found"):
					t.Errorf("%s: status %q, error %q", got.path, got.status, got.err)
				}
			}
		})
	}
}

// TestInferBlankAlone: --format json on one blank image is one record that
// says so, not [].
func TestInferBlankAlone(t *testing.T) {
	t.Parallel()
	r := run(t, "infer", trainedPTH, testtool.Testdata(filepath.Join("images", "nondigits", "blank.png")), "--format", "json")
	var recs []jsonlRecord
	if err := json.Unmarshal([]byte(r.stdout), &recs); err != nil {
		t.Fatalf("not a JSON array: %v\n%s", err, r.stdout)
	}
	if r.code != 1 || len(recs) != 1 || recs[0].Status != "error" || recs[0].Error != "blank image: no digit found" {
		t.Errorf("exit %d, records %+v; want exit 1 and one error record for the blank image", r.code, recs)
	}
}

// TestInferMinConfidence: --min-confidence 0.9 makes the weak answers
// unsure, keeping their digit; unsure answers leave the exit code 0; a
// value outside [0, 1] is a usage error.
func TestInferMinConfidence(t *testing.T) {
	t.Parallel()
	dir, _ := nondigitFolder(t)
	for _, name := range []string{"blank.png", "blank_grey.png"} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	r := run(t, "infer", trainedPTH, dir, "--format", "jsonl", "--min-confidence", "0.9")
	if r.code != 0 {
		t.Fatalf("exit %d, want 0: unsure is an answer:\n%s", r.code, r.stderr)
	}
	if m := summaryLine.FindStringSubmatch(r.stderr); m == nil || m[6] != "4" {
		t.Errorf("no summary of 4 unsure:\n%s", r.stderr)
	}
	recs := parseJSONL(t, r.stdout, false)
	if len(recs) != 6 {
		t.Fatalf("%d records, want 6", len(recs))
	}
	for _, rec := range recs {
		want := nondigitWants[filepath.Base(rec.Path)]
		status := map[bool]string{true: "unsure", false: "ok"}[want.unsure]
		if rec.Status != status || rec.Confidence >= 0.9 != (status == "ok") || rec.Prediction != argmax(rec.Probabilities) {
			t.Errorf("%s: status %q, prediction %d, confidence %.4f; want %s with the model's digit", rec.Path, rec.Status, rec.Prediction, rec.Confidence, status)
		}
	}
	for _, bad := range []string{"1.5", "-0.1", "NaN"} {
		r := run(t, "infer", trainedPTH, dir, "--min-confidence", bad)
		if r.code != 2 || !strings.Contains(r.stderr, "--min-confidence") || r.stdout != "" {
			t.Errorf("--min-confidence %s: exit %d, stderr %q; want a usage error", bad, r.code, r.stderr)
		}
	}
}

func argmax(p []float64) int {
	best := 0
	for i, v := range p {
		if v > p[best] {
			best = i
		}
	}
	return best
}

// TestPreprocessAssumedNote: a graph that declares no preprocessing
// (cnn28.onnx) gets one note on standard error from infer and eval, and
// preprocess_assumed in their JSON, saying what is assumed and how to
// change it; with --mean and --std, or a model that declares it, neither.
func TestPreprocessAssumedNote(t *testing.T) {
	t.Parallel()
	cnn28 := testtool.Testdata(filepath.Join("onnx", "cnn28.onnx"))
	declared := filepath.Join(t.TempDir(), "declared.onnx")
	if r := run(t, "convert", trainedPTH, declared); r.code != 0 {
		t.Fatalf("convert: exit %d: %s", r.code, r.stderr)
	}
	digit := testtool.Testdata(filepath.Join("images", "clean", "00000.png"))
	few := firstTestImages(t, 100)
	const assumed = "mean 0, std 1 on pixels in [0,1]"
	for _, c := range []struct {
		name string
		args []string
		note string // what preprocess_assumed says, "" for no note
	}{
		{"infer, graph without preprocess", []string{"infer", cnn28, digit}, assumed},
		{"infer, --mean and --std", []string{"infer", cnn28, digit, "--mean", "0.5", "--std", "0.5"}, ""},
		{"infer, --mean alone", []string{"infer", cnn28, digit, "--mean", "0.5"}, "std 1 on pixels in [0,1]"},
		{"infer, lenetkit's ONNX", []string{"infer", declared, digit}, ""},
		{"infer, .pth", []string{"infer", trainedPTH, digit}, ""},
		{"eval, graph without preprocess", []string{"eval", cnn28, "--data", few, "--skip-checksum"}, assumed},
		{"eval, --mean and --std", []string{"eval", cnn28, "--data", few, "--skip-checksum", "--mean", "0.5", "--std", "0.5"}, ""},
		{"eval, .pth", []string{"eval", trainedPTH, "--data", few, "--skip-checksum"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, format := range []string{"text", "json"} {
				r := run(t, append(c.args, "--format", format)...)
				if r.code != 0 {
					t.Fatalf("--format %s: exit %d: %s", format, r.code, r.stderr)
				}
				notes := strings.Count(r.stderr, "note: ")
				if c.note == "" && notes != 0 || c.note != "" && (notes != 1 ||
					!strings.Contains(r.stderr, "declares no preprocessing") || !strings.Contains(r.stderr, "assuming "+c.note) ||
					!strings.Contains(r.stderr, "--mean m --std s")) {
					t.Errorf("--format %s: stderr %q; want the note %v times, assuming %q", format, r.stderr, c.note != "", c.note)
				}
				if strings.Contains(r.stdout, "note:") {
					t.Errorf("--format %s: the note is on standard output:\n%s", format, r.stdout)
				}
				if format != "json" {
					continue
				}
				var got struct {
					PreprocessAssumed *string `json:"preprocess_assumed"`
				}
				doc := []byte(r.stdout)
				if c.args[0] == "infer" {
					var recs []json.RawMessage
					if err := json.Unmarshal(doc, &recs); err != nil || len(recs) != 1 {
						t.Fatalf("infer --format json: %v\n%s", err, r.stdout)
					}
					doc = recs[0]
				}
				if err := json.Unmarshal(doc, &got); err != nil {
					t.Fatal(err)
				}
				if c.note == "" && got.PreprocessAssumed != nil || c.note != "" && (got.PreprocessAssumed == nil || *got.PreprocessAssumed != c.note) {
					t.Errorf("preprocess_assumed %v, want %q", got.PreprocessAssumed, c.note)
				}
			}
		})
	}
}

// TestNormalizeFlagsHelp: --mean and --std show one default, the true one,
// not urfave/cli's "(default: 0)" beside it.
func TestNormalizeFlagsHelp(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"eval", "infer"} {
		r := run(t, cmd, "--help")
		for _, flag := range []string{"--mean", "--std", "--min-confidence"} {
			if cmd == "eval" && flag == "--min-confidence" {
				continue
			}
			var line string
			for _, l := range strings.Split(r.stdout, "\n") {
				if strings.HasPrefix(strings.TrimSpace(l), flag+" ") {
					line = l
				}
			}
			if strings.Count(line, "(default:") != 1 || strings.Contains(line, "(default: 0)") {
				t.Errorf("%s --help: %s line %q; want one default, not (default: 0)", cmd, flag, line)
			}
		}
	}
}
