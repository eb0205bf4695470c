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
			net, x, y := benchNet(b, name, Options{Batch: 128})
			defer net.Close()
			b.ResetTimer()
			for range b.N {
				if _, err := net.Step(x, y); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchNet builds the fixture graph name for timing, with a batch of
// uniform random images and labels 0: what every step benchmark runs.
func benchNet(b *testing.B, name string, opt Options) (*Net, []float32, []int64) {
	b.Helper()
	net, err := New(loadFixture(b, name), opt)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, len(net.x))
	for i := range x {
		x[i] = rng.Float32()
	}
	return net, x, make([]int64, opt.Batch)
}
