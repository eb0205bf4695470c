package onnxtrain

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestGradientsMatchFiniteDifferences checks every layer's backward pass
// together, against central differences of the loss, for a few entries of
// every weight of graphs that use each family: 5x5 convolutions with Tanh
// and average pooling, BatchNorm, NHWC Transposes with MatMul and Add,
// CNTK's reshaped weights, the old opsets' forms (read as opset 7's). The
// seed's network runs in eval mode here: in training mode its channels
// that ReLU killed for the whole batch have a variance of zero, which
// BatchNorm divides by sqrt(eps), too steep for finite differences;
// TestBatchNormTrainingGradient checks that mode. So does caffe2_opset6's,
// whose first convolution's weights, under training-mode BatchNorm before a
// ReLU and a 3x3 pool, move enough pixels across those kinks at a step of
// 1e-3 that a tenth of its central differences stray by 5 to 10 %.
func TestGradientsMatchFiniteDifferences(t *testing.T) {
	const batch = 3
	for _, tc := range []struct {
		name     string
		training bool
	}{
		{"lenet5.onnx", true}, {"seed_view.onnx", false},
		{"producers/keras2onnx_160.onnx", true}, {"producers/cntk_mnist8.onnx", true},
		{"producers/cntk_mnist1.onnx", true}, {"producers/caffe2_opset6.onnx", false}, // opsets 1 and 6
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := loadFixture(t, tc.name)
			net, err := New(m, Options{Batch: batch, Seed: 3})
			if err != nil {
				t.Fatal(err)
			}
			defer net.Close()
			net.SetTraining(tc.training)
			rng := rand.New(rand.NewPCG(5, 6))
			x := make([]float32, len(net.x))
			for i := range x {
				x[i] = rng.Float32()
			}
			y := make([]int64, batch)
			for i := range y {
				y[i] = int64(rng.IntN(net.Classes()))
			}
			loss := func() float64 {
				net.src.Seed(3, 0x6f6e6e78)
				l, err := net.Step(x, y)
				if err != nil {
					t.Fatal(err)
				}
				return l
			}
			// BatchNorm's running statistics move on every step but do not
			// enter a training-mode loss.
			loss()
			grads := make([][]float32, len(net.Params()))
			for i := range grads {
				grads[i] = append([]float32(nil), net.Grad(i)...)
			}
			for i, p := range net.Params() {
				for _, j := range []int{0, len(p.Data) / 2, len(p.Data) - 1} {
					const h = 1e-3
					old := p.Data[j]
					p.Data[j] = old + h
					up := loss()
					p.Data[j] = old - h
					down := loss()
					p.Data[j] = old
					fd := (up - down) / (2 * h)
					if g := float64(grads[i][j]); math.Abs(g-fd) > 2e-3+3e-2*math.Abs(fd) {
						t.Errorf("%s[%d]: gradient %g, finite difference %g", p.Name, j, g, fd)
					}
				}
			}
		})
	}
}

// TestBatchNormTrainingGradient checks BatchNorm's training-mode backward
// pass (batch statistics) against central differences of sum(dy * y).
func TestBatchNormTrainingGradient(t *testing.T) {
	training := true
	const n, c, hw = 3, 2, 5
	l := &batchNorm{n: n, c: c, hw: hw, eps: 1e-5, momentum: 0.9, train: &training, mean: make([]float64, c), invStd: make([]float64, c)}
	rng := rand.New(rand.NewPCG(1, 1))
	x, dy, y := make([]float32, n*c*hw), make([]float32, n*c*hw), make([]float32, n*c*hw)
	for i := range x {
		x[i], dy[i] = rng.Float32(), rng.Float32()-0.5
	}
	in := [][]float32{x, {1.5, 0.7}, {0.1, -0.2}, {0, 0}, {1, 1}}
	objective := func() float64 {
		l.forward(y, in)
		var s float64
		for i := range y {
			s += float64(y[i]) * float64(dy[i])
		}
		return s
	}
	objective()
	dx := [][]float32{make([]float32, len(x)), make([]float32, c), make([]float32, c), nil, nil}
	l.backward(dx, dy, y, in)
	for k, v := range [][]float32{x, in[1], in[2]} {
		for j := range v {
			const h = 1e-3
			old := v[j]
			v[j] = old + h
			up := objective()
			v[j] = old - h
			down := objective()
			v[j] = old
			if fd := (up - down) / (2 * h); math.Abs(float64(dx[k][j])-fd) > 1e-3*(1+math.Abs(fd)) {
				t.Errorf("input %d [%d]: gradient %g, finite difference %g", k, j, dx[k][j], fd)
			}
		}
	}
	// The running statistics moved towards the batch's: 10 % of the way.
	if in[3][0] == 0 || in[4][0] == 1 {
		t.Errorf("running statistics did not move: mean %g, var %g", in[3][0], in[4][0])
	}
}
