// Package testtool finds the real peers that lenetkit's tests compare against
// (Debian's PyTorch and ONNX for Python, ONNX Runtime for Node.js) and decides
// what a test does when one is missing: skip with the reason locally, fail
// when CI=true, because CI installs them and a skip there would hide a gap.
package testtool

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// Python is Debian's interpreter, the one python3-torch and python3-onnx
// install into; a python3 earlier on PATH may lack them.
const Python = "/usr/bin/python3"

// RequirePython returns the interpreter after checking that it imports every
// module named, or skips (fails under CI=true) saying which is missing.
func RequirePython(t testing.TB, modules ...string) string {
	t.Helper()
	skipShort(t)
	if _, err := os.Stat(Python); err != nil {
		missing(t, Python+" not found (install Debian's python3-torch, python3-onnx, python3-pil)")
	}
	if len(modules) > 0 {
		if msg := importCheck(modules); msg != "" {
			missing(t, "python modules "+strings.Join(modules, ", ")+" unavailable: "+msg)
		}
	}
	return Python
}

// RequireORT returns the node interpreter after checking that
// onnxruntime-node loads from reference/node_modules, or skips (fails under
// CI=true) saying what is missing.
func RequireORT(t testing.TB) string {
	t.Helper()
	skipShort(t)
	node, err := exec.LookPath("node")
	if err != nil {
		missing(t, "node not found (install Node.js and npm, then npm ci --ignore-scripts in reference/)")
	}
	cmd := exec.Command(node, "-e", "require('onnxruntime-node')")
	cmd.Dir = filepath.Join(RepoRoot(), "reference")
	if out, err := cmd.CombinedOutput(); err != nil {
		missing(t, "onnxruntime-node does not load from reference/node_modules (run npm ci --ignore-scripts in reference/): "+lastLine(string(out)))
	}
	return node
}

// RepoRoot is the module root, found from this file's location.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Reference returns the path of a script in reference/.
func Reference(name string) string { return filepath.Join(RepoRoot(), "reference", name) }

// Testdata returns the path of a fixture in testdata/.
func Testdata(name string) string { return filepath.Join(RepoRoot(), "testdata", name) }

// skipShort skips a comparison with a peer under go test -short: starting
// PyTorch, ONNX Runtime or a browser costs seconds each time, and -short is
// the quick loop of lenetkit's own logic. The full run, which CI makes,
// has them all.
func skipShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no comparison with the peers (PyTorch, ONNX Runtime, Chromium)")
	}
}

// SkipShort is skipShort for peers found elsewhere (the browser).
func SkipShort(t testing.TB) { t.Helper(); skipShort(t) }

// Missing skips the test, or fails it when CI=true.
func Missing(t testing.TB, reason string) { t.Helper(); missing(t, reason) }

func missing(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("required under CI=true: %s", reason)
	}
	t.Skip(reason)
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// An ORTJob is one model for reference/ort_eval.js: N images of C x H x W
// as raw float32 in Input, fed as [N, C, H, W] or, with Flat, as [N,
// C*H*W]; the model's first output written to Out, Batch images per run
// (0: the script's default).
type ORTJob struct {
	Model string `json:"model"`
	Input string `json:"input"`
	N     int    `json:"n"`
	C     int    `json:"c"`
	H     int    `json:"h"`
	W     int    `json:"w"`
	Flat  bool   `json:"flat,omitempty"`
	Plane bool   `json:"plane,omitempty"` // fed as [N, H, W], C 1
	Out   string `json:"out"`
	Batch int    `json:"batch,omitempty"`
}

// RunORT runs ONNX Runtime over every job in one Node.js process, which
// starts in seconds; it skips (fails under CI=true) without ONNX Runtime.
func RunORT(t testing.TB, jobs []ORTJob) {
	t.Helper()
	node := RequireORT(t)
	b, err := json.Marshal(jobs)
	if err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(t.TempDir(), "jobs.json")
	if err := os.WriteFile(manifest, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, Reference("ort_eval.js"), "--manifest", manifest)
	cmd.Dir = Reference("")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ONNX Runtime: %v\n%s", err, out)
	}
}

// FashionMNISTDir is where Debian's dataset-fashion-mnist package installs
// Fashion-MNIST's four IDX files, gzipped.
const FashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// FashionMNIST returns FashionMNISTDir after checking that it is there, or
// skips (fails under CI=true) saying which package installs it.
func FashionMNIST(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(FashionMNISTDir); err != nil {
		missing(t, "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
	}
	return FashionMNISTDir
}

// ORTExactU8S8 reports whether ONNX Runtime's uint8 x int8 products are
// exact on this CPU: MLAS takes VPDPBUSD where the CPU has AVX512-VNNI or
// AVX-VNNI, and otherwise VPMADDUBSW, which saturates each sum of two
// products in int16. It reads the CPU's flags from /proc/cpuinfo, not
// from what GODEBUG leaves this process.
func ORTExactU8S8() bool {
	info, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH != "amd64"
	}
	for _, line := range strings.Split(string(info), "\n") {
		if name, flags, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "flags" {
			f := strings.Fields(flags)
			return slices.Contains(f, "avx_vnni") || slices.Contains(f, "avx512_vnni") && slices.Contains(f, "avx512bw")
		}
	}
	return runtime.GOARCH != "amd64"
}

// ORTRefusal is the first line of ONNX Runtime's reason for not loading
// the model at path, "" when it loads it; it skips (fails under CI=true)
// without ONNX Runtime.
func ORTRefusal(t testing.TB, path string) string {
	t.Helper()
	node := RequireORT(t)
	cmd := exec.Command(node, "-e", `require('onnxruntime-node').InferenceSession.create(process.argv[1]).then(
		() => {}, e => { console.log(String(e.message).split('\n')[0]); })`, path)
	cmd.Dir = Reference("")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}
