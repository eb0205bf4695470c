package onnxtrain

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/lenetkit/lenetkit/onnx"
)

// BenchmarkDepthwise times dwbn's depthwise layer (batch 128, 8 channels of
// 28x28, 3x3, pad 1) and its BatchNorm, forward and backward apart, so that
// a kernel's change shows without the rest of the step's noise.
func BenchmarkDepthwise(b *testing.B) {
	xs, ws := []int{128, 8, 28, 28}, []int{8, 1, 3, 3}
	rng := rand.New(rand.NewPCG(1, 2))
	fill := func(n int) []float32 {
		v := make([]float32, n)
		for j := range v {
			v[j] = rng.Float32()*2 - 1
		}
		return v
	}
	in := [][]float32{fill(size(xs)), fill(size(ws))}
	y, dy := make([]float32, size(xs)), fill(size(xs))
	dx := [][]float32{make([]float32, size(xs)), make([]float32, size(ws))}
	// MobileNet's blocks also halve the map with a stride-2 depthwise layer.
	for _, stride := range []int64{1, 2} {
		a := attrs(map[string][]int64{"pads": {1, 1, 1, 1}, "strides": {stride, stride}})
		a["group"] = onnx.Attr{Int: 8, Type: onnx.AttributeProto_INT}
		l, _, err := buildConv(&builder{net: &Net{}}, &onnx.Node{OpType: "Conv", Attrs: a}, []*value{{shape: xs}, {shape: ws}})
		if err != nil {
			b.Fatal(err)
		}
		name := fmt.Sprintf("conv/stride%d", stride)
		b.Run(name+"/forward", func(b *testing.B) {
			for range b.N {
				l.forward(y, in)
			}
		})
		b.Run(name+"/backward", func(b *testing.B) {
			for range b.N {
				l.backward(dx, dy, y, in)
			}
		})
	}
	train := true
	bn := &batchNorm{n: 128, c: 8, hw: 28 * 28, eps: 1e-5, momentum: 0.9, train: &train, mean: make([]float64, 8), invStd: make([]float64, 8)}
	bnIn := [][]float32{in[0], fill(8), fill(8), fill(8), fill(8)}
	for j := range bnIn[4] {
		bnIn[4][j] = 1
	}
	bnDX := [][]float32{dx[0], make([]float32, 8), make([]float32, 8)}
	b.Run("batchnorm/forward", func(b *testing.B) {
		for range b.N {
			bn.forward(y, bnIn)
		}
	})
	b.Run("batchnorm/backward", func(b *testing.B) {
		for range b.N {
			bn.backward(bnDX, dy, y, bnIn)
		}
	})
}
