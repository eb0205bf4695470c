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

// TestInspectQuantized lists the quantized tensors of testdata/quant's
// QDQ and QOperator files, in text and JSON: per tensor the scale and
// zero point, per channel the axis, the count and the range of the
// scales; the tensors' own types (int8 weights, int32 biases).
func TestInspectQuantized(t *testing.T) {
	type tensor struct {
		Tensor, Kind, Type string
		Axis               *int
		Channels           int
		Scale              *float32
		ZeroPoint          *int64   `json:"zero_point"`
		ScaleMin           *float32 `json:"scale_min"`
		ScaleMax           *float32 `json:"scale_max"`
	}
	var got struct {
		Tensors []struct {
			Name, DType string
		}
		Quantization *struct {
			Form                         string
			Activations, Weights, Biases int
			Tensors                      []tensor
		}
	}
	r := run(t, "inspect", testtool.Testdata("quant/seed_qdq_channel.onnx"), "--format", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	q := got.Quantization
	if q == nil || q.Form != "QDQ" || q.Activations != 13 || q.Weights != 8 || q.Biases != 8 || len(q.Tensors) != 29 {
		t.Fatalf("quantization %+v", q)
	}
	in, w := q.Tensors[0], q.Tensors[1]
	if in.Tensor != "input" || in.Kind != "activation" || in.Type != "UINT8" || *in.Scale != float32(1.0/255) || *in.ZeroPoint != 0 {
		t.Errorf("first tensor %+v", in)
	}
	if w.Tensor != "conv_layers.0.weight_quantized" || w.Kind != "weight" || w.Type != "INT8" || *w.Axis != 0 || w.Channels != 32 ||
		w.Scale != nil || !(*w.ScaleMin < *w.ScaleMax) {
		t.Errorf("conv1's weight %+v", w)
	}
	types := map[string]string{}
	for _, t := range got.Tensors {
		types[t.Name] = t.DType
	}
	if types["conv_layers.0.weight_quantized"] != "int8" || types["conv_layers.0.bias_quantized"] != "int32" || types["input_zero_point"] != "uint8" || types["input_scale"] != "float32" {
		t.Errorf("tensor types %v", types)
	}

	text := run(t, "inspect", testtool.Testdata("quant/seed_qoperator.onnx"))
	for _, want := range []string{
		"Quantized:  QOperator; 7 activations, 4 weights, 2 biases",
		"Parameter5_quantized                    weight      INT8   axis 0: 8 scales, 0.00247062 to 0.00317967   0",
		"Parameter6_quantized                    bias        INT32  Input3_scale x Parameter5_scale              -",
		"Times212_Output_0_quantized             activation  UINT8  0.142794                                     153",
	} {
		if !strings.Contains(text.stdout, want) {
			t.Errorf("inspect seed_qoperator.onnx lacks %q:\n%s", want, text.stdout)
		}
	}
	if r := run(t, "inspect", testtool.Testdata("quant/mnist12_float.onnx")); r.code != 0 || strings.Contains(r.stdout, "Quantized:") {
		t.Errorf("a float model: exit %d\n%s", r.code, r.stdout)
	}
}
