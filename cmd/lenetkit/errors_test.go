package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
)

// synthData writes four small raw IDX files named as MNIST's, of no known
// data set: quick to train on, and refused without --skip-checksum.
func synthData(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, part := range []struct {
		prefix string
		n      int
	}{{"train", 200}, {"t10k", 128}} {
		img := binary.BigEndian.AppendUint32(nil, 0x803)
		for _, d := range []uint32{uint32(part.n), 28, 28} {
			img = binary.BigEndian.AppendUint32(img, d)
		}
		lab := binary.BigEndian.AppendUint32(nil, 0x801)
		lab = binary.BigEndian.AppendUint32(lab, uint32(part.n))
		for i := 0; i < part.n; i++ {
			for p := 0; p < 784; p++ {
				img = append(img, byte(i*7+p*13))
			}
			lab = append(lab, byte(i%10))
		}
		for name, b := range map[string][]byte{part.prefix + "-images-idx3-ubyte": img, part.prefix + "-labels-idx1-ubyte": lab} {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// quickTrain and quickSweep are training flags that take a second on
// synthData.
var (
	quickTrain = []string{"--skip-checksum", "--epochs", "1", "--batch-size", "16", "--limit", "32", "--val-size", "100"}
	quickSweep = []string{"--skip-checksum", "--dropout", "0", "--weight-decay", "0", "--seeds", "0", "--epochs", "1",
		"--batch-size", "16", "--limit", "32", "--val-size", "100"}
)

// wantOneLine checks a failed command as the user sees it: the exit code,
// one line on stderr that is exactly want, nothing on stdout.
func wantOneLine(t *testing.T, r result, code int, want string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit %d, want %d", r.code, code)
	}
	if got := strings.TrimRight(r.stderr, "\n"); got != "lenetkit: "+want {
		t.Errorf("stderr:\n%s\nwant:\nlenetkit: %s", r.stderr, want)
	}
	if r.stdout != "" {
		t.Errorf("stdout not empty:\n%s", r.stdout)
	}
}

// TestErrorsPointTheWay: each mistake a new user makes gets one line that
// names what is wrong and what to do, exit 1, and writes nothing.
func TestErrorsPointTheWay(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	model := func(name string) []byte {
		p := filepath.Join(src, name)
		if _, err := os.Stat(p); err != nil {
			lenetkitConvert(t, trainedPTH, p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	pth, _ := os.ReadFile(trainedPTH)
	onnxBytes, stBytes := model("m.onnx"), model("m.safetensors")
	data := synthData(t)

	cases := []struct {
		name  string
		files map[string][]byte // written into the case's directory first
		dirs  []string          // made there first
		args  []string          // run there
		want  string            // the error line, without "lenetkit: "
	}{
		{"convert onto a directory, --force", map[string][]byte{"parameter.pth": pth}, []string{"adir.pth"},
			[]string{"convert", "parameter.pth", "adir.pth", "--force"},
			"adir.pth is a directory, which a file cannot replace, --force or not: name the file to write (adir.pth/model.pth)"},
		{"convert onto a directory", map[string][]byte{"parameter.pth": pth}, []string{"adir.onnx"},
			[]string{"convert", "parameter.pth", "adir.onnx"},
			"adir.onnx is a directory, which a file cannot replace, --force or not: name the file to write (adir.onnx/model.onnx)"},
		{"ONNX renamed .pth", map[string][]byte{"x.pth": onnxBytes}, nil, []string{"convert", "x.pth", "y.safetensors"},
			"x.pth looks like an ONNX file, not a PyTorch one: rename it to x.onnx"},
		{"safetensors renamed .pt", map[string][]byte{"x.pt": stBytes}, nil, []string{"convert", "x.pt", "y.onnx"},
			"x.pt looks like a safetensors file, not a PyTorch one: rename it to x.safetensors"},
		{"PyTorch renamed .onnx", map[string][]byte{"x.onnx": pth}, nil, []string{"inspect", "x.onnx"},
			"x.onnx looks like a PyTorch file, not an ONNX one: rename it to x.pth"},
		{"PyTorch renamed .safetensors", map[string][]byte{"x.safetensors": pth}, nil, []string{"convert", "x.safetensors", "y.onnx"},
			"x.safetensors looks like a PyTorch file, not a safetensors one: rename it to x.pth"},
		{"resume an empty folder", nil, []string{"emptyrun"}, []string{"train", "--resume", "emptyrun"},
			"--resume emptyrun: no run to resume there: it holds no checkpoint.pth (start one with lenetkit train --log-dir emptyrun)"},
		{"resume nothing", nil, nil, []string{"train", "--resume", "norun"},
			"--resume norun: no run to resume: norun does not exist (start one with lenetkit train --log-dir norun)"},
		{"convert into a missing folder", map[string][]byte{"x.pth": pth}, nil, []string{"convert", "x.pth", "nodir/sub/model.onnx"},
			"cannot write nodir/sub/model.onnx: the folder nodir/sub does not exist (create it first)"},
		{"train --out in a missing folder", nil, nil, []string{"train", "--out", "nodir/sub/x.pth"},
			"--out nodir/sub/x.pth: the folder nodir/sub does not exist (create it first)"},
		{"train --log-dir under a file", map[string][]byte{"notes": nil}, nil, []string{"train", "--log-dir", "notes/run"},
			"--log-dir notes/run: notes is a file, not a folder"},
		{"sweep --out a file", map[string][]byte{"study": nil}, nil, []string{"sweep", "--out", "study"},
			"--out study: it is a file, not a folder"},
		{"data of no known set", nil, nil, []string{"train", "--data", data, "--out", "x.pth"},
			"mnist: " + filepath.Join(data, "train-images-idx3-ubyte") + ": checksum mismatch: its SHA-256 "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for name, b := range c.files {
				if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for _, d := range c.dirs {
				if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			before := snapshot(t, dir)
			r := runIn(t, dir, nil, c.args...)
			if strings.HasSuffix(c.want, " ") {
				// A sum that depends on the data: the line's start and end.
				wantError(t, r, c.want, "is not that of MNIST's or Fashion-MNIST's file: replace a damaged copy, or use --skip-checksum for IDX data of another set")
				if n := strings.Count(strings.TrimRight(r.stderr, "\n"), "\n"); n != 0 || r.stdout != "" {
					t.Errorf("more than the error line:\n%s%s", r.stdout, r.stderr)
				}
			} else {
				wantOneLine(t, r, 1, c.want)
			}
			after := snapshot(t, dir)
			if len(after) != len(before) {
				t.Errorf("files written: %d before, %d after", len(before), len(after))
			}
			if ents := listAll(t, dir); len(ents) != len(c.files)+len(c.dirs) {
				t.Errorf("left behind: %v", ents)
			}
		})
	}
}

// runIn runs lenetkit in dir, as the user uid when it is not nil (a
// command line prefix that switches user).
func runIn(t *testing.T, dir string, as []string, args ...string) result {
	t.Helper()
	return runArgv(t, dir, append(append(append([]string{}, as...), lenetkitBin), args...)...)
}

// listAll is every name under dir, folders included.
func listAll(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if path != dir {
			rel, _ := filepath.Rel(dir, path)
			names = append(names, rel)
		}
		return nil
	})
	return names
}

// TestFolderNotWritable: an output into a folder the user cannot write is
// refused up front, naming the folder and the flag that gave it, never a
// temporary name. Root writes anywhere, so as root the commands run as
// nobody through setpriv, from a copy of the binary nobody can run; without
// setpriv the test skips.
func TestFolderNotWritable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var as []string
	bin := lenetkitBin
	if os.Geteuid() == 0 {
		setpriv, err := exec.LookPath("setpriv")
		if err != nil {
			t.Skip("running as root, whom permissions do not stop, and no setpriv to run as another user")
		}
		as = []string{setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"}
		// t.TempDir's parent is private to root.
		for _, d := range []string{filepath.Dir(dir), dir} {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		b, err := os.ReadFile(lenetkitBin)
		if err != nil {
			t.Fatal(err)
		}
		bin = filepath.Join(dir, "lenetkit")
		if err := os.WriteFile(bin, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pth, _ := os.ReadFile(trainedPTH)
	ro, rw := filepath.Join(dir, "ro"), filepath.Join(dir, "rw")
	os.Mkdir(ro, 0o755)
	os.Mkdir(rw, 0o777)
	os.Chmod(rw, 0o777)
	if err := os.WriteFile(filepath.Join(dir, "parameter.pth"), pth, 0o644); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		os.Chmod(ro, 0o555)
		defer os.Chmod(ro, 0o755)
	}
	cases := []struct {
		dir  string
		args []string
		want string
	}{
		{ro, []string{"convert", "../parameter.pth", "model.onnx"}, "cannot write model.onnx: the folder . is not writable"},
		{dir, []string{"train", "--out", "ro/x.pth"}, "--out ro/x.pth: the folder ro is not writable"},
		{dir, []string{"train", "--out", "rw/x.pth", "--log-dir", "ro/run"}, "--log-dir ro/run: the folder ro is not writable"},
		{dir, []string{"sweep", "--out", "ro/study"}, "--out ro/study: the folder ro is not writable"},
	}
	for _, c := range cases {
		r := runArgv(t, c.dir, append(append(append([]string{}, as...), bin), c.args...)...)
		t.Run(c.args[0]+" "+c.args[len(c.args)-1], func(t *testing.T) {
			wantOneLine(t, r, 1, c.want)
		})
	}
	for _, d := range []string{ro, rw} {
		if ents, _ := os.ReadDir(d); len(ents) != 0 {
			t.Errorf("left in %s: %v", d, ents)
		}
	}
}

// TestQuietAndWording: -q keeps convert silent and train and sweep to their
// results; counts read as English.
func TestQuietAndWording(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := synthData(t)

	r := runIn(t, dir, nil, "convert", "-q", trainedPTH, "q.onnx")
	if r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Errorf("convert -q: exit %d, printed %q %q", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "q.onnx")); err != nil {
		t.Error(err)
	}
	r = runIn(t, dir, nil, "convert", "-q", trainedPTH, "q.safetensors", "--format", "json")
	if r.code != 0 || !json.Valid([]byte(r.stdout)) || r.stderr != "" {
		t.Errorf("convert -q --format json: exit %d, printed %q %q; want the JSON asked for", r.code, r.stdout, r.stderr)
	}

	r = runIn(t, dir, nil, append([]string{"train", "-q", "--data", data, "--out", "q.pth"}, quickTrain...)...)
	if r.code != 0 || r.stderr != "" || !strings.HasPrefix(r.stdout, "Test set") {
		t.Errorf("train -q: exit %d, stdout %q, stderr %q; want only the test figures", r.code, r.stdout, r.stderr)
	}
	r = runIn(t, dir, nil, append([]string{"train", "--data", data, "--out", "w.pth"}, quickTrain...)...)
	for _, w := range []string{"IDX data (unchecked, --skip-checksum) from " + data, "; 1 epoch of 2 steps, batch 16; OneCycleLR over 2 steps"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("train: stderr lacks %q:\n%s", w, r.stderr)
		}
	}

	r = runIn(t, dir, nil, append([]string{"sweep", "-q", "--data", data, "--out", "qs"}, quickSweep...)...)
	if r.code != 0 || r.stderr != "" || !strings.HasPrefix(r.stdout, "dropout") {
		t.Errorf("sweep -q: exit %d, stdout %q, stderr %q; want only the table", r.code, r.stdout, r.stderr)
	}
	r = runIn(t, dir, nil, append([]string{"sweep", "--data", data, "--out", "s"}, quickSweep...)...)
	if !strings.Contains(r.stderr, "sweep: 1 run in this slice, 0 finished already, 1 to train (recipe standard, 1 epoch)") {
		t.Errorf("sweep: %s", r.stderr)
	}
	for _, bad := range []string{" 1 epochs", " 1 runs", " 1 steps", " 1 seeds"} {
		if out := r.stdout + r.stderr; strings.Contains(out, bad) {
			t.Errorf("%q in:\n%s", bad, out)
		}
	}
}

// TestFashionMNISTKnown: Fashion-MNIST's own files need no --skip-checksum,
// and train says which data set it read.
func TestFashionMNISTKnown(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 60,000 images; skipped with -short")
	}
	fashionDir := testtool.FashionMNIST(t)
	t.Parallel()
	out := filepath.Join(t.TempDir(), "f.pth")
	r := run(t, "train", "--data", fashionDir, "--out", out, "--epochs", "1", "--limit", "128", "--format", "json")
	if r.code != 0 || !strings.Contains(r.stderr, "Fashion-MNIST from "+fashionDir) {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	var s struct{ Dataset string }
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil || s.Dataset != "Fashion-MNIST" {
		t.Errorf("dataset %q (%v)", s.Dataset, err)
	}
}

// TestBenchMissingPeers: a peer that cannot run has no figures, in text or
// JSON, and one line per peer says why and how to install it.
func TestBenchMissingPeers(t *testing.T) {
	if testing.Short() {
		t.Skip("a bench run takes some seconds; skipped with -short")
	}
	t.Parallel()
	// The ONNX Runtime scripts without their node_modules; no PyTorch script.
	ref := t.TempDir()
	for _, f := range []string{"ort_bench.js", "ort_eval.js"} {
		b, err := os.ReadFile(testtool.Reference(f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(ref, f), b, 0o644)
	}
	r := run(t, "bench", "--reference", ref, "--steps", "1", "--seconds", "0.05", "--rounds", "1", "-q")
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	lines := map[string]string{} // a row's start -> what it must say
	for start, w := range map[string]string{
		"  PyTorch ":                            "not measured",
		"  ONNX Runtime, batch 1 ":              "not measured",
		"  ONNX Runtime, batch 128 ":            "not measured",
		"evaluation of the 10,000 test images ": "ONNX Runtime not measured",
		"peak RSS, training ":                   "PyTorch not measured",
		"peak RSS, all of it ":                  "ONNX Runtime not measured",
	} {
		lines[start] = w
	}
	for _, line := range strings.Split(r.stdout, "\n") {
		for start, w := range lines {
			if strings.HasPrefix(line, start) && strings.Contains(line, w) {
				delete(lines, start)
			}
		}
	}
	for start, w := range lines {
		t.Errorf("no row %q...%q:\n%s", start, w, r.stdout)
	}
	w := "\nPyTorch not measured: " + filepath.Join(ref, "train_reference.py") + " does not exist (--reference must name the reference folder of a lenetkit checkout)\n"
	if !strings.Contains(r.stdout, w) {
		t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
	}
	if _, err := exec.LookPath("node"); err == nil {
		w := "\nONNX Runtime not measured: onnxruntime-node is not installed (cd " + ref + " && npm ci --ignore-scripts)\n"
		if !strings.Contains(r.stdout, w) {
			t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
		}
	}
	if n := strings.Count(r.stdout, "not measured: "); n != 2 {
		t.Errorf("%d not-measured lines, want one per peer:\n%s", n, r.stdout)
	}
	for _, bad := range []string{" 0 MB", " 0.00 s", "Require stack", "at Module", "Node.js v", "Traceback"} {
		if strings.Contains(r.stdout+r.stderr, bad) {
			t.Errorf("%q printed:\n%s", bad, r.stdout)
		}
	}

	// The JSON of the same report: the peers' fields are absent.
	var b bytes.Buffer
	if err := printJSON(&b, benchReport{Model: "m.onnx", TrainMSPerStep: 20, NotMeasured: []string{"PyTorch not measured: x"}}); err != nil {
		t.Fatal(err)
	}
	var rep map[string]any
	if err := json.Unmarshal(b.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	for k := range rep {
		if strings.Contains(k, "pytorch") || strings.Contains(k, "onnxruntime") {
			t.Errorf("JSON has %s = %v for a peer not measured", k, rep[k])
		}
	}
}
