package train

import (
	"math/rand/v2"
	"testing"

	"github.com/lenetkit/lenetkit/lenet"
)

// BenchmarkStep times one training step of the seed's recipe (batch 128:
// forward, backward, Adam) and reports images/s and allocations. PyTorch
// 1.13 on the same two cores: about 68 ms per step
// (reference/train_reference.py --bench-steps 20).
func BenchmarkStep(b *testing.B) {
	const batch = 128
	sd := lenet.Init(1)
	net, err := NewNet(sd, batch, 0.3, DropoutRow, 1)
	if err != nil {
		b.Fatal(err)
	}
	defer net.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, batch*lenet.InputSize*lenet.InputSize)
	for i := range x {
		x[i] = rng.Float32()
	}
	y := make([]int64, batch)
	for i := range y {
		y[i] = int64(rng.IntN(10))
	}
	opt := NewAdam(0.002)
	// The first run allocates the tape machine's registers; gradients then
	// live in buffers the ops own, the same every step.
	if _, err := net.Step(x, y); err != nil {
		b.Fatal(err)
	}
	var params, grads [][]float32
	for i, p := range net.Params() {
		params, grads = append(params, p.F32), append(grads, net.Grad(i))
	}
	step := func() {
		if _, err := net.Step(x, y); err != nil {
			b.Fatal(err)
		}
		opt.Step(params, grads, 1e-3, 0.9)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step()
	}
	perStep := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(perStep*1e3, "ms/step")
	b.ReportMetric(batch/perStep, "images/s")
}
