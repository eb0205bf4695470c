package main

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/lenetkit/lenetkit/convert"
	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/onnx"
)

// trainedPTH is the PyTorch-trained state dict (reference/make_fixtures.py)
// that the end-to-end tests convert, evaluate and classify with.
var trainedPTH = testtool.Testdata("lenet_trained.pth")

// PyTorch's counts for reference/lenet.py's LeNet: len(model.state_dict())
// and sum(p.numel() for p in model.parameters()).
const (
	torchTensors    = 25
	torchParameters = 126602
)

var pythonFound sync.Map // modules -> interpreter, once an import succeeded

// requirePy is testtool.RequirePython, remembered per set of modules: each
// check starts Python and imports torch, which takes a second or two.
func requirePy(t *testing.T, modules ...string) string {
	t.Helper()
	key := strings.Join(modules, ",")
	if py, ok := pythonFound.Load(key); ok {
		return py.(string)
	}
	py := testtool.RequirePython(t, modules...)
	pythonFound.Store(key, py)
	return py
}

// refRun runs a reference/ script and returns its standard output, failing
// the test with its standard error if it fails.
func refRun(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	if name == testtool.Python && len(args) > 0 {
		return testtool.MustRunScript(t, args[0], args[1:]...)
	}
	cmd := exec.Command(name, args...)
	// Keep the reference scripts from leaving __pycache__ in the tree.
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok {
			msg += ": " + strings.TrimSpace(string(ee.Stderr))
		}
		t.Fatalf("%s %s: %s\n%s", filepath.Base(name), strings.Join(args, " "), msg, out)
	}
	return out
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// wantError checks that a command failed as the user should see it: exit
// status 1, and a stderr line "lenetkit: ..." mentioning every one of
// wants, with no panic or stack trace anywhere. It returns that line.
func wantError(t *testing.T, r result, wants ...string) string {
	t.Helper()
	if r.code != 1 {
		t.Errorf("exit status %d, want 1; stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic") {
		t.Errorf("stack trace on stderr:\n%s", r.stderr)
	}
	for _, line := range strings.Split(r.stderr, "\n") {
		if !strings.HasPrefix(line, "lenetkit: ") {
			continue
		}
		ok := true
		for _, w := range wants {
			ok = ok && strings.Contains(line, w)
		}
		if ok {
			return line
		}
	}
	t.Errorf("no error line mentions all of %q; stderr:\n%s", wants, r.stderr)
	return ""
}

// wantOnlyError is wantError for a command that must print nothing but the
// one error line.
func wantOnlyError(t *testing.T, r result, wants ...string) {
	t.Helper()
	wantError(t, r, wants...)
	if n := strings.Count(strings.TrimRight(r.stderr, "\n"), "\n"); n != 0 {
		t.Errorf("stderr has %d lines, want the one error line:\n%s", n+1, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("stdout not empty:\n%s", r.stdout)
	}
}

// lenetkitConvert runs lenetkit convert and fails the test unless it succeeds.
func lenetkitConvert(t *testing.T, args ...string) result {
	t.Helper()
	r := run(t, append([]string{"convert"}, args...)...)
	if r.code != 0 {
		t.Fatalf("lenetkit convert %s: exit %d:\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

// pthCompare has real PyTorch load got and want and compare every tensor
// (names in order, dtype, shape, torch.equal), then load got strictly into
// reference/lenet.py's LeNet, also with weights_only=True.
func pthCompare(t *testing.T, got, want string) {
	t.Helper()
	py := requirePy(t, "torch")
	var cmp struct {
		Equal bool     `json:"equal"`
		Diffs []string `json:"diffs"`
	}
	out := refRun(t, py, testtool.Reference("pth_check.py"), got, "--compare", want)
	if err := json.Unmarshal(out, &cmp); err != nil {
		t.Fatalf("pth_check.py --compare printed %q: %v", out, err)
	}
	if !cmp.Equal {
		t.Errorf("PyTorch finds %s and %s differ: %v", got, want, cmp.Diffs)
	}
	var desc struct {
		Tensors     []struct{ Name string } `json:"tensors"`
		WeightsOnly bool                    `json:"weights_only"`
		LenetStrict bool                    `json:"lenet_strict"`
	}
	out = refRun(t, py, testtool.Reference("pth_check.py"), got, "--lenet")
	if err := json.Unmarshal(out, &desc); err != nil {
		t.Fatalf("pth_check.py --lenet printed %q: %v", out, err)
	}
	if !desc.LenetStrict || !desc.WeightsOnly || len(desc.Tensors) != torchTensors {
		t.Errorf("PyTorch on %s: lenet_strict %v, weights_only %v, %d tensors; want true, true, %d",
			got, desc.LenetStrict, desc.WeightsOnly, len(desc.Tensors), torchTensors)
	}
}

// TestConvertRoundTrips converts the PyTorch-trained state dict to ONNX (at
// the lowest and highest opset) and to safetensors, then back to .pth, and
// has real PyTorch find every tensor equal to the original's and load the
// result strictly.
func TestConvertRoundTrips(t *testing.T) {
	t.Parallel()
	cases := []struct {
		via   string
		flags []string
	}{
		{"model.onnx", []string{"--opset", "9"}},
		{"model.onnx", []string{"--opset", "17"}},
		{"model.safetensors", nil},
	}
	for _, c := range cases {
		t.Run(c.via+strings.Join(c.flags, ""), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			mid, back := filepath.Join(dir, c.via), filepath.Join(dir, "back.pth")
			lenetkitConvert(t, append([]string{trainedPTH, mid}, c.flags...)...)
			lenetkitConvert(t, mid, back)
			pthCompare(t, back, trainedPTH)
			ents, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(ents) != 2 {
				t.Errorf("%s holds %d files, want the two written: %v", dir, len(ents), ents)
			}
		})
	}
}

var (
	readLine  = regexp.MustCompile(`(?m)^read +(\S+) \((\w+), sha256 ([0-9a-f]{64})\)$`)
	countLine = regexp.MustCompile(`(?m)^ +(\d+) tensors, (\d+) parameters`)
	wroteLine = regexp.MustCompile(`(?m)^wrote +(\S+) \((\w+)(?:, opset (\d+))?, sha256 ([0-9a-f]{64})\)$`)
)

// TestConvertToONNX checks what lenetkit convert says it did against the
// files themselves, and has ONNX's own checker (full_check) accept the
// graph at the lowest and highest opset.
func TestConvertToONNX(t *testing.T) {
	t.Parallel()
	requirePy(t, "onnx")
	ver := strings.Fields(strings.SplitN(run(t, "--version").stdout, "\n", 2)[0])
	if len(ver) == 0 {
		t.Fatal("lenetkit --version printed nothing")
	}
	version := ver[len(ver)-1]
	srcSum := fileSHA256(t, trainedPTH)
	for _, opset := range []int{9, 17} {
		t.Run(fmt.Sprint("opset ", opset), func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "lenet.onnx")
			r := lenetkitConvert(t, trainedPTH, out, "--opset", fmt.Sprint(opset))
			outSum := fileSHA256(t, out)
			m := readLine.FindStringSubmatch(r.stdout)
			if m == nil || m[1] != trainedPTH || m[2] != "pth" || m[3] != srcSum {
				t.Errorf("no read line naming %s (pth, sha256 %s):\n%s", trainedPTH, srcSum, r.stdout)
			}
			if m := countLine.FindStringSubmatch(r.stdout); m == nil || m[1] != fmt.Sprint(torchTensors) || m[2] != fmt.Sprint(torchParameters) {
				t.Errorf("no line saying %d tensors, %d parameters:\n%s", torchTensors, torchParameters, r.stdout)
			}
			if m := wroteLine.FindStringSubmatch(r.stdout); m == nil || m[1] != out || m[2] != "onnx" || m[3] != fmt.Sprint(opset) || m[4] != outSum {
				t.Errorf("no wrote line naming %s (onnx, opset %d, sha256 %s):\n%s", out, opset, outSum, r.stdout)
			}

			var chk struct {
				OK              bool              `json:"ok"`
				Error           string            `json:"error"`
				Opsets          map[string]int    `json:"opsets"`
				Producer        string            `json:"producer"`
				ProducerVersion string            `json:"producer_version"`
				Initializers    map[string][]int  `json:"initializers"`
				Metadata        map[string]string `json:"metadata"`
			}
			b, _ := testtool.RunScript(t, nil, testtool.Reference("onnx_check.py"), out) // exit status 1 means refused; the JSON says why
			if err := json.Unmarshal(b, &chk); err != nil {
				t.Fatalf("onnx_check.py printed %q: %v", b, err)
			}
			if !chk.OK {
				t.Fatalf("onnx.checker.check_model(full_check=True) refuses %s: %s", out, chk.Error)
			}
			if chk.Opsets[""] != opset || chk.Producer != "lenetkit" || chk.ProducerVersion != version {
				t.Errorf("opsets %v, producer %q %q; want opset %d, lenetkit %s", chk.Opsets, chk.Producer, chk.ProducerVersion, opset, version)
			}
			if chk.Metadata[onnx.MetaSourceSHA256] != srcSum {
				t.Errorf("metadata %s = %q, want the source's %s", onnx.MetaSourceSHA256, chk.Metadata[onnx.MetaSourceSHA256], srcSum)
			}
			for _, p := range lenet.Params() {
				_, isInit := chk.Initializers[p.Name]
				_, isMeta := chk.Metadata[p.Name]
				if !isInit && !isMeta {
					t.Errorf("%s is neither an initializer nor metadata", p.Name)
				}
			}
		})
	}
}

func TestConvertJSON(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "lenet.safetensors")
	r := lenetkitConvert(t, trainedPTH, out, "--format", "json")
	var got convertResult
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("--format json printed %q: %v", r.stdout, err)
	}
	want := convertResult{Source: trainedPTH, SourceFormat: "pth", SourceSHA256: fileSHA256(t, trainedPTH),
		Tensors: torchTensors, Parameters: torchParameters, Out: out, OutFormat: "safetensors", OutSHA256: fileSHA256(t, out)}
	if got != want {
		t.Errorf("--format json gave\n%+v\nwant\n%+v", got, want)
	}
}

// TestConvertForce: an existing OUT is left alone without --force and
// replaced with it.
func TestConvertForce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "model.onnx")
	const precious = "not to be overwritten\n"
	if err := os.WriteFile(out, []byte(precious), 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, "convert", trainedPTH, out)
	wantOnlyError(t, r, out, "--force")
	if b, _ := os.ReadFile(out); string(b) != precious {
		t.Errorf("%s changed without --force", out)
	}

	r = lenetkitConvert(t, trainedPTH, out, "--force", "--format", "json")
	var got convertResult
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	if sum := fileSHA256(t, out); got.OutSHA256 != sum {
		t.Errorf("reported sha256 %s, file's %s", got.OutSHA256, sum)
	}
	sd, err := onnx.ReadStateDict(out)
	if err != nil {
		t.Fatalf("--force left no model in %s: %v", out, err)
	}
	if err := lenet.Check(sd); err != nil {
		t.Error(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("%s holds %v, want only model.onnx", dir, ents)
	}
}

// TestConvertBadInput: each bad file gets one error line naming it, exit
// status 1, and leaves nothing in the output directory.
func TestConvertBadInput(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(src, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	trained, err := os.ReadFile(trainedPTH)
	if err != nil {
		t.Fatal(err)
	}

	// A zip archive as torch.save lays it out, without data.pkl.
	var noPickle strings.Builder
	zw := zip.NewWriter(&noPickle)
	for name, body := range map[string]string{"lenet/version": "3\n", "lenet/data/0": "\x00\x00\x80\x3f"} {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}

	// fc_layer.3.weight with its two dimensions swapped: the same number
	// of values, a shape the network cannot load.
	sd, err := convert.ReadPTHStateDict(trainedPTH)
	if err != nil {
		t.Fatal(err)
	}
	w := sd.Lookup("fc_layer.3.weight")
	w.Shape = []int{w.Shape[1], w.Shape[0]}
	wrongShape := filepath.Join(src, "wrong_shape.pth")
	if err := convert.SavePTH(wrongShape, sd); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name, in, out string
		wants         []string
	}{
		{"pickle calling os.system", testtool.Testdata("pth/evil_os_system.pth"), "x.onnx", []string{"evil_os_system.pth", "os.system"}},
		{"truncated zip", write("truncated.pth", trained[:len(trained)/2]), "x.onnx", []string{"truncated.pth"}},
		{"zip without data.pkl", write("no_pickle.pth", []byte(noPickle.String())), "x.onnx", []string{"no_pickle.pth", "data.pkl"}},
		{"not protobuf", write("text.onnx", []byte("this is a text file, not an ONNX model\n")), "x.pth", []string{"text.onnx"}},
		{"another network", testtool.Testdata("onnx/mlp.onnx"), "x.pth", []string{"mlp.onnx"}},
		{"wrong shape", wrongShape, "x.safetensors", []string{"wrong_shape.pth", "fc_layer.3.weight", "[10, 64]", "[64, 10]"}},
		{"missing file", filepath.Join(src, "absent.pth"), "x.onnx", []string{"absent.pth"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, c.out)
			r := run(t, "convert", c.in, out)
			wantOnlyError(t, r, c.wants...)
			if strings.Contains(r.stdout+r.stderr, "lenetkit-pickle-payload-ran") {
				t.Error("the pickle's os.system call ran")
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("left in the output directory: %v", ents)
			}
		})
	}
}
