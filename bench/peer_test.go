package bench

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lenetkit/lenetkit/internal/testtool"
)

// Node's and Python's stderr when a package is missing, as they print it.
const (
	nodeMissing = `node:internal/modules/cjs/loader:1210
  throw err;
  ^

Error: Cannot find module 'onnxruntime-node'
Require stack:
- /opt/lenetkit/reference/ort_bench.js
    at Module._resolveFilename (node:internal/modules/cjs/loader:1207:15)
    at Object.<anonymous> (/opt/lenetkit/reference/ort_bench.js:11:13) {
  code: 'MODULE_NOT_FOUND',
  requireStack: [ '/opt/lenetkit/reference/ort_bench.js' ]
}

Node.js v20.20.2
`
	pythonMissing = `Traceback (most recent call last):
  File "/opt/lenetkit/reference/train_reference.py", line 42, in <module>
    import torch
ModuleNotFoundError: No module named 'torch'
`
	pythonFailed = `Traceback (most recent call last):
  File "/opt/lenetkit/reference/train_reference.py", line 200, in <module>
    main()
RuntimeError: mat1 and mat2 shapes cannot be multiplied (128x512 and 64x10)
`
)

// TestPeerErrors: a peer that cannot run is one line naming it, why, and
// the step that makes it run; never its stack trace.
func TestPeerErrors(t *testing.T) {
	dir := t.TempDir()
	ref := filepath.Join(dir, "ref")
	os.Mkdir(ref, 0o755)
	for _, f := range []string{"train_reference.py", "ort_bench.js"} {
		os.WriteFile(filepath.Join(ref, f), nil, 0o644)
	}
	// A stand-in interpreter that fails as Python does, with the stderr
	// given.
	fakePython := func(name, stderr string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p+".err", []byte(stderr), 0o644)
		os.WriteFile(p, []byte("#!/bin/sh\ncat '"+p+".err' >&2\nexit 1\n"), 0o755)
		return p
	}
	defer func(p string) { python = p }(python)
	cases := []struct {
		name   string
		python string
		run    func() error
		want   string
	}{
		{"no PyTorch script", "/usr/bin/python3", func() error { _, err := PyTorchTrainStep(t.Context(), dir, 1, ""); return err },
			"PyTorch not measured: " + filepath.Join(dir, "train_reference.py") + " does not exist (--reference must name the reference folder of a lenetkit checkout)"},
		{"no ONNX Runtime script", "/usr/bin/python3", func() error { _, err := ONNXRuntime(t.Context(), dir, "m.onnx", 1, time.Second, nil); return err },
			"ONNX Runtime not measured: " + filepath.Join(dir, "ort_bench.js") + " does not exist (--reference must name the reference folder of a lenetkit checkout)"},
		{"no ONNX Runtime evaluation script", "/usr/bin/python3", func() error {
			_, _, err := ORTEvaluation(t.Context(), dir, "m.onnx", make([]float32, 4), 1, []int{1, 2, 2}, 0)
			return err
		}, "ONNX Runtime not measured: " + filepath.Join(dir, "ort_eval.js") + " does not exist"},
		{"no interpreter", filepath.Join(dir, "nowhere", "python3"), func() error { _, err := PyTorchTrainStep(t.Context(), ref, 1, ""); return err },
			"PyTorch not measured: " + filepath.Join(dir, "nowhere", "python3") + " is not installed (apt-get install python3-torch)"},
		{"no torch", fakePython("python-without-torch", pythonMissing), func() error { _, err := PyTorchTrainStep(t.Context(), ref, 1, ""); return err },
			"PyTorch not measured: " + filepath.Join(dir, "python-without-torch") + " lacks torch (apt-get install python3-torch)"},
		{"PyTorch fails", fakePython("python-failing", pythonFailed), func() error { _, err := PyTorchTrainStep(t.Context(), ref, 1, ""); return err },
			"PyTorch not measured: python-failing train_reference.py failed (exit status 1): RuntimeError: mat1 and mat2 shapes cannot be multiplied (128x512 and 64x10)"},
	}
	for _, c := range cases {
		python = c.python
		err := c.run()
		var pe *PeerError
		if !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: %v\nwant %s", c.name, err, c.want)
		}
	}

	// ONNX Runtime's real scripts, where onnxruntime-node is not installed.
	if _, err := exec.LookPath("node"); err != nil {
		testtool.Missing(t, "no node")
	}
	for _, f := range []string{"ort_bench.js", "ort_eval.js"} {
		b, err := os.ReadFile(testtool.Reference(f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(ref, f), b, 0o644)
	}
	_, err := ONNXRuntime(t.Context(), ref, "m.onnx", 1, time.Second, nil)
	want := "ONNX Runtime not measured: onnxruntime-node is not installed (cd " + ref + " && npm ci --ignore-scripts)"
	if err == nil || err.Error() != want {
		t.Errorf("%v\nwant %s", err, want)
	}
	_, _, err = ORTEvaluation(context.Background(), ref, "m.onnx", make([]float32, 4), 1, []int{1, 2, 2}, 0)
	if err == nil || err.Error() != want {
		t.Errorf("evaluation: %v\nwant %s", err, want)
	}
}

func TestFirstMeaningfulLine(t *testing.T) {
	for stderr, want := range map[string]string{
		nodeMissing:             "Error: Cannot find module 'onnxruntime-node'",
		pythonMissing:           "ModuleNotFoundError: No module named 'torch'",
		pythonFailed:            "RuntimeError: mat1 and mat2 shapes cannot be multiplied (128x512 and 64x10)",
		"":                      "",
		"  only indented\n":     "only indented",
		"plain message\nmore\n": "plain message",
	} {
		if got := firstMeaningfulLine(stderr); got != want {
			t.Errorf("%q: %q, want %q", stderr, got, want)
		}
	}
}
