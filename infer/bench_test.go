package infer

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/lenet"
)

// ortImagesPerSec measures ONNX Runtime (reference/ort_bench.js, two
// threads) on the same ONNX file.
func ortImagesPerSec(b *testing.B, model string, batch int) float64 {
	node := testtool.RequireORT(b)
	out, err := exec.Command(node, testtool.Reference("ort_bench.js"), model, fmt.Sprint(batch), "3").Output()
	if err != nil {
		b.Fatalf("ort_bench.js: %v", err)
	}
	var r struct {
		ImagesPerS float64 `json:"images_per_s"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		b.Fatalf("ort_bench.js printed %q: %v", out, err)
	}
	return r.ImagesPerS
}

// BenchmarkInfer prints images/s at batch 1 and 128 for each backend on
// lenetkit's ONNX export of a PyTorch-trained model, and ONNX Runtime's on
// the same file, with the ratio lenetkit/ONNX Runtime (vs_ort > 1: faster).
//
//	go test ./infer -run XXX -bench Infer
func BenchmarkInfer(b *testing.B) {
	model := exportONNX(b, testtool.Testdata("lenet_trained.pth"), 13)
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 128*lenet.InputSize*lenet.InputSize)
	for i := range x {
		x[i] = rng.Float32()
	}
	logits := make([]float32, 128*lenet.Classes)
	for _, batch := range []int{1, 128} {
		ort := ortImagesPerSec(b, model, batch) // outside the timed runs
		for _, backend := range []string{Native, Gorgonia} {
			b.Run(fmt.Sprintf("%s/batch%d", backend, batch), func(b *testing.B) {
				m, err := Open(model, backend)
				if err != nil {
					b.Fatal(err)
				}
				if err := m.Logits(logits, x, batch); err != nil { // builds per-size graphs
					b.Fatal(err)
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if err := m.Logits(logits, x, batch); err != nil {
						b.Fatal(err)
					}
				}
				ips := float64(batch*b.N) / b.Elapsed().Seconds()
				b.ReportMetric(ips, "images/s")
				b.ReportMetric(ort, "ort_images/s")
				b.ReportMetric(ips/ort, "vs_ort")
			})
		}
	}
}
