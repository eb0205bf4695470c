package nchw

import (
	"math"
	"testing"
)

func TestUnary(t *testing.T) {
	tests := []struct {
		name string
		f    func(y, x []float32)
		ref  func(float64) float64
	}{
		{"Relu", Relu, func(v float64) float64 { return math.Max(v, 0) }},
		{"LeakyRelu", func(y, x []float32) { LeakyRelu(y, x, 0.01) }, func(v float64) float64 {
			if v < 0 {
				return float64(float32(0.01)) * v
			}
			return v
		}},
		{"LeakyRelu-0.3", func(y, x []float32) { LeakyRelu(y, x, 0.3) }, func(v float64) float64 {
			if v < 0 {
				return float64(float32(0.3)) * v
			}
			return v
		}},
		{"Tanh", Tanh, math.Tanh},
		{"Sigmoid", Sigmoid, func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }},
	}
	rng := newRand()
	// Odd lengths, and values out to where exp overflows float32 and
	// float64.
	special := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 20, -20, 100, -100, 1000, -1000, 3e38, -3e38}
	for _, tt := range tests {
		for _, n := range []int{1, 7, 33, 1000} {
			x := randn(rng, n, 3)
			if n == 1000 {
				copy(x, special)
			}
			want := make([]float64, n)
			for i, v := range x {
				want[i] = tt.ref(float64(v))
			}
			y := poisoned(n)
			tt.f(y, x)
			t.Run(tt.name, func(t *testing.T) { checkClose(t, y, want) })
			tt.f(x, x)
			t.Run(tt.name+"-in-place", func(t *testing.T) { checkClose(t, x, want) })
		}
	}
}
