package lenet_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/lenetkit/lenetkit/lenet"
)

// BenchmarkLogits times inference at batch 1 and 128 on freshly
// initialised weights (the work does not depend on their values); infer's
// BenchmarkInfer sets the same figures beside ONNX Runtime's.
func BenchmarkLogits(b *testing.B) {
	m, err := lenet.NewModel(lenet.Init(1))
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 128*lenet.InputSize*lenet.InputSize)
	for i := range x {
		x[i] = rng.Float32()
	}
	logits := make([]float32, 128*lenet.Classes)
	for _, batch := range []int{1, 128} {
		b.Run(fmt.Sprintf("batch%d", batch), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := m.Logits(logits, x, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}
