package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/lenet"
)

// TestSummary prints torchsummary's table, alone and for a model file, as
// text and as JSON, and refuses another network and bad flags.
func TestSummary(t *testing.T) {
	for _, args := range [][]string{
		{"summary"},
		{"summary", "--batch-size", "128"},
		{"summary", trainedPTH},
	} {
		r := run(t, args...)
		if r.code != 0 || r.stdout != lenet.Summary(128).String() {
			t.Errorf("%q: exit %d, stdout:\n%s\nstderr:\n%s", args, r.code, r.stdout, r.stderr)
		}
		if len(args) == 2 && !strings.Contains(r.stderr, "lenet_trained.pth holds the seed's LeNet") {
			t.Errorf("%q: stderr does not name the file: %q", args, r.stderr)
		}
	}
	// Spot checks of the text, against torchsummary's own printout.
	r := run(t, "summary", "--batch-size", "-1")
	for _, line := range []string{
		"            Conv2d-1           [-1, 32, 32, 32]             320\n",
		"           Linear-16                   [-1, 10]             650\n",
		"Total params: 126,602\n",
		"Estimated Total Size (MB): 1.74\n",
	} {
		if !strings.Contains(r.stdout, line) {
			t.Errorf("--batch-size -1: no line %q in:\n%s", line, r.stdout)
		}
	}

	r = run(t, "summary", trainedPTH, "--format", "json")
	var got struct {
		Model  string `json:"model"`
		Batch  int    `json:"batch_size"`
		Layers []struct {
			Layer       string `json:"layer"`
			Module      string `json:"module"`
			OutputShape []int  `json:"output_shape"`
			Params      int    `json:"params"`
		} `json:"layers"`
		Total     int     `json:"total_params"`
		Trainable int     `json:"trainable_params"`
		TotalMB   float64 `json:"estimated_total_size_mb"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("--format json: %v in %q (stderr %q)", err, r.stdout, r.stderr)
	}
	if got.Model != trainedPTH || got.Batch != 128 || len(got.Layers) != 16 || got.Total != torchParameters ||
		got.Trainable != torchParameters || got.TotalMB < 161.115 || got.TotalMB >= 161.125 {
		t.Errorf("--format json: %+v", got)
	}
	if l := got.Layers[13]; l.Layer != "Linear-14" || l.Module != "fc_layer.1" || len(l.OutputShape) != 2 ||
		l.OutputShape[0] != 128 || l.OutputShape[1] != 64 || l.Params != 32832 {
		t.Errorf("--format json: Linear-14 is %+v", l)
	}

	for _, c := range []struct {
		args  []string
		wants []string // all in the one error line
	}{
		{[]string{"summary", testtool.Testdata("onnx/mlp.onnx")}, []string{"mlp.onnx", "not the seed's LeNet"}},
		{[]string{"summary", "--batch-size", "0"}, []string{"--batch-size 0"}},
		{[]string{"summary", "--format", "yaml"}, []string{"--format", "yaml"}},
		{[]string{"summary", trainedPTH, trainedPTH}, []string{"at most one MODEL"}},
	} {
		r := run(t, c.args...)
		msg := strings.TrimSpace(r.stderr)
		if r.code == 0 || r.stdout != "" || strings.Contains(msg, "\n") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want one error line", c.args, r.code, r.stdout, r.stderr)
		}
		for _, w := range c.wants {
			if !strings.Contains(msg, w) {
				t.Errorf("%q: error %q does not say %q", c.args, msg, w)
			}
		}
	}
}
