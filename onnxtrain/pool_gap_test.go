package onnxtrain

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestGlobalAveragePool: each output is its plane's mean, and each pixel's
// gradient its plane's gradient over the plane's size, over plane sizes
// around the four accumulators and planes enough to split among threads.
func TestGlobalAveragePool(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, tc := range []struct{ planes, hw int }{{1, 1}, {3, 3}, {2, 4}, {5, 5}, {2048, 196}, {7, 33}} {
		x := make([]float32, tc.planes*tc.hw)
		for i := range x {
			x[i] = rng.Float32()*2 - 1
		}
		dy := make([]float32, tc.planes)
		for i := range dy {
			dy[i] = rng.Float32()*2 - 1
		}
		l := &globalAvgPool{planes: tc.planes, hw: tc.hw}
		y, dx := make([]float32, tc.planes), make([]float32, len(x))
		for i := range dx {
			dx[i] = float32(math.NaN()) // every pixel must be written
		}
		l.forward(y, [][]float32{x})
		l.backward([][]float32{dx}, dy, y, [][]float32{x})
		for pl := range tc.planes {
			var s float64
			for _, v := range x[pl*tc.hw : (pl+1)*tc.hw] {
				s += float64(v)
			}
			if want := s / float64(tc.hw); math.Abs(float64(y[pl])-want) > 1e-6 {
				t.Fatalf("%+v: plane %d's mean %g, want %g", tc, pl, y[pl], want)
			}
			want := dy[pl] / float32(tc.hw)
			for j, g := range dx[pl*tc.hw : (pl+1)*tc.hw] {
				if g != want {
					t.Fatalf("%+v: plane %d's gradient [%d] = %g, want %g", tc, pl, j, g, want)
				}
			}
		}
	}
}
