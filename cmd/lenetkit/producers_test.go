package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
)

// producerModel is one graph of testdata/onnx/producers/expected.json:
// written with onnx.helper as keras2onnx, tf2onnx and CNTK write theirs
// (reference/onnx_producers.py), and ONNX Runtime's figures for it.
type producerModel struct {
	File        string  `json:"file"`
	Producer    string  `json:"producer"`
	Opset       int64   `json:"opset"`
	InputLayout string  `json:"input_layout"`
	Accuracy    float64 `json:"accuracy"`
	Loss        float64 `json:"loss"`
	Images      int     `json:"images"`
	OutOfOrder  bool    `json:"out_of_order"`
}

// TestEvalProducerGraphs: graphs from producers other than torch (NHWC
// inputs with Transposes, nodes out of order, SAME_UPPER padding, MatMul
// and Add for Dense layers, Identity tails, initializers listed as inputs,
// opsets 1 and 6, which ONNX Runtime no longer reads: legacy.json's
// figures are its own on the same network at opset 8) give ONNX Runtime's
// accuracy to the printed digit and its loss within 1e-4; doctor says how
// each is read.
func TestEvalProducerGraphs(t *testing.T) {
	t.Parallel()
	data := realData(t)
	models := map[string]producerModel{}
	for file, least := range map[string]int{"expected.json": 4, "legacy.json": 2} {
		b, err := os.ReadFile(testtool.Testdata("onnx/producers/" + file))
		if err != nil {
			t.Fatal(err)
		}
		var z struct {
			Models map[string]producerModel `json:"models"`
		}
		if err := json.Unmarshal(b, &z); err != nil || len(z.Models) < least {
			t.Fatalf("%s: %d models, %v", file, len(z.Models), err)
		}
		maps.Copy(models, z.Models)
	}
	for name, m := range models {
		t.Run(name, func(t *testing.T) {
			path := testtool.Testdata("onnx/producers/" + m.File)
			e := evalFile(t, path, "--data", data, "--protocol", "full")
			got, want := fmt.Sprintf("%.2f", e.Accuracy), fmt.Sprintf("%.2f", m.Accuracy)
			if got != want || e.Images != m.Images || math.Abs(e.Loss-m.Loss) > 1e-4 {
				t.Errorf("%d images, accuracy %s%%, loss %.6f; ONNX Runtime %d, %s%%, %.6f", e.Images, got, e.Loss, m.Images, want, m.Loss)
			}
			d := run(t, "doctor", path)
			if d.code != 0 || !strings.Contains(d.stdout, ", "+m.InputLayout+": images of 1 x 28 x 28") ||
				strings.Contains(d.stdout, "Order:") != m.OutOfOrder || strings.Contains(d.stdout, "in their opset 7 forms") != (m.Opset < 7) {
				t.Errorf("doctor: exit %d\n%s%s\nwant an input read as %s, out of order %v, opset %d", d.code, d.stdout, d.stderr, m.InputLayout, m.OutOfOrder, m.Opset)
			}
		})
	}
}
