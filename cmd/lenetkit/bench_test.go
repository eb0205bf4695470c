package main

import (
	"encoding/json"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
)

// TestBench runs a short `lenetkit bench` and checks the JSON carries
// lenetkit's figures and, when the peers are installed, theirs and the
// ratios computed from them.
func TestBench(t *testing.T) {
	if testing.Short() {
		t.Skip("runs PyTorch and ONNX Runtime for several seconds")
	}
	testtool.RequirePython(t, "torch")
	testtool.RequireORT(t)
	r := run(t, "bench", "--steps", "3", "--seconds", "0.3", "--format", "json", "--reference", testtool.Reference(""))
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v:\n%s", err, r.stdout)
	}
	for _, k := range []string{"train_ms_per_step", "infer_images_per_s_batch1", "infer_images_per_s_batch128",
		"pytorch_train_ms_per_step", "onnxruntime_images_per_s_batch1", "onnxruntime_images_per_s_batch128", "peak_rss_bytes"} {
		if v, ok := rep[k].(float64); !ok || v <= 0 {
			t.Errorf("%s = %v, want a positive figure", k, rep[k])
		}
	}
	ratio, _ := rep["ratio_train_ms_vs_pytorch"].(float64)
	ours, _ := rep["train_ms_per_step"].(float64)
	theirs, _ := rep["pytorch_train_ms_per_step"].(float64)
	if theirs > 0 && (ratio < 0.999*ours/theirs || ratio > 1.001*ours/theirs) {
		t.Errorf("ratio %g, but %g / %g = %g", ratio, ours, theirs, ours/theirs)
	}
	if nm, ok := rep["not_measured"]; ok {
		t.Errorf("peers not measured: %v", nm)
	}
}
