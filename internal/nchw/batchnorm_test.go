package nchw

import (
	"math"
	"testing"
)

func TestBatchNorm(t *testing.T) {
	rng := newRand()
	for _, tt := range []struct {
		c, hw int
		eps   float64
	}{{1, 1, 1e-5}, {3, 7, 1e-5}, {16, 64, 1e-3}, {5, 1, 0.1}} {
		gamma, beta, mean := randn(rng, tt.c, 1), randn(rng, tt.c, 1), randn(rng, tt.c, 1)
		variance := randn(rng, tt.c, 1)
		for i, v := range variance {
			variance[i] = v * v
		}
		x := randn(rng, tt.c*tt.hw, 2)
		want := make([]float64, len(x))
		for i := range tt.c {
			for j := range tt.hw {
				v := float64(x[i*tt.hw+j])
				want[i*tt.hw+j] = float64(gamma[i])*(v-float64(mean[i]))/math.Sqrt(float64(variance[i])+tt.eps) + float64(beta[i])
			}
		}
		scale, shift := poisoned(tt.c), poisoned(tt.c)
		FoldBatchNorm(scale, shift, gamma, beta, mean, variance, tt.eps)
		y := poisoned(len(x))
		ScaleShift(y, x, scale, shift, tt.c, tt.hw)
		checkClose(t, y, want)
		// In place.
		ScaleShift(x, x, scale, shift, tt.c, tt.hw)
		checkClose(t, x, want)
	}
}
