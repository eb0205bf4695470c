package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
)

type inspectJSON struct {
	Format         string                  `json:"format"`
	Producer       string                  `json:"producer"`
	Opset          int64                   `json:"opset"`
	Metadata       map[string]string       `json:"metadata"`
	Tensors        []struct{ Name string } `json:"tensors"`
	Parameters     int                     `json:"parameters"`
	SeedNetwork    bool                    `json:"seed_network"`
	NotSeedNetwork string                  `json:"not_seed_network"`
	BatchesTracked *int64                  `json:"num_batches_tracked"`
	Meaning        string                  `json:"num_batches_tracked_meaning"`
}

// TestInspect describes the same weights in every format, and another
// network's graph, with BatchNorm's counter and what it means.
func TestInspect(t *testing.T) {
	dir := t.TempDir()
	onnxFile, st := filepath.Join(dir, "m.onnx"), filepath.Join(dir, "m.safetensors")
	lenetkitConvert(t, trainedPTH, onnxFile, "--opset", "11")
	lenetkitConvert(t, trainedPTH, st)
	cases := []struct {
		path, format string
		seed         bool
	}{
		{trainedPTH, "pth", true},
		{onnxFile, "onnx", true},
		{st, "safetensors", true},
		{testtool.Testdata("onnx/mlp.onnx"), "onnx", false},
	}
	for _, c := range cases {
		t.Run(filepath.Base(c.path), func(t *testing.T) {
			r := run(t, "inspect", c.path, "--format", "json")
			if r.code != 0 {
				t.Fatalf("exit %d:\n%s", r.code, r.stderr)
			}
			var got inspectJSON
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatalf("%v in %q", err, r.stdout)
			}
			if got.Format != c.format || got.SeedNetwork != c.seed || len(got.Tensors) == 0 {
				t.Errorf("format %q, seed network %v, %d tensors; want %q, %v", got.Format, got.SeedNetwork, len(got.Tensors), c.format, c.seed)
			}
			if !c.seed {
				if !strings.Contains(got.NotSeedNetwork, "not the seed's LeNet") || got.BatchesTracked != nil {
					t.Errorf("another network: %+v", got)
				}
				return
			}
			// lenet_trained.pth is 2 epochs of 429 train-mode steps.
			if got.Parameters != torchParameters || got.BatchesTracked == nil || *got.BatchesTracked != 858 ||
				!strings.Contains(got.Meaning, "858 train-mode batches") {
				t.Errorf("parameters %d, num_batches_tracked %v (%q)", got.Parameters, got.BatchesTracked, got.Meaning)
			}
			if c.format == "onnx" && (got.Opset != 11 || !strings.HasPrefix(got.Producer, "lenetkit") || got.Metadata["preprocess"] == "") {
				t.Errorf("onnx: producer %q, opset %d, metadata %v", got.Producer, got.Opset, got.Metadata)
			}
		})
	}
	r := run(t, "inspect", trainedPTH)
	if r.code != 0 || !strings.Contains(r.stdout, "num_batches_tracked 858") || !strings.Contains(r.stdout, "conv_layers.0.weight") {
		t.Errorf("text output:\n%s", r.stdout)
	}
}
