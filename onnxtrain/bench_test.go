package onnxtrain

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkStep times one training step (forward and backward, no
// optimiser) of batch 128 on each graph PyTorch's twin also trains
// (lenetkit bench --model compares the two in one run).
func BenchmarkStep(b *testing.B) {
	for _, name := range []string{"lenet5.onnx", "cnn28.onnx", "producers/keras2onnx_160.onnx", "dwbn.onnx", "seed_view.onnx"} {
		b.Run(name, func(b *testing.B) {
			m := loadFixture(b, name)
			net, err := New(m, Options{Batch: 128})
			if err != nil {
				b.Fatal(err)
			}
			defer net.Close()
			rng := rand.New(rand.NewPCG(1, 2))
			x := make([]float32, len(net.x))
			for i := range x {
				x[i] = rng.Float32()
			}
			y := make([]int64, 128)
			b.ResetTimer()
			for range b.N {
				if _, err := net.Step(x, y); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
