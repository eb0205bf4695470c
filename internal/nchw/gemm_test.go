package nchw

import (
	"fmt"
	"testing"
)

// refGemm is ONNX Gemm by its definition, in float64; c nil means no C.
func refGemm(m, n, k int, transA, transB bool, alpha float64, a, b []float64, beta float64, c []float64, cShape []int) []float64 {
	y := make([]float64, m*n)
	for i := range m {
		for j := range n {
			var s float64
			for p := range k {
				av := a[i*k+p]
				if transA {
					av = a[p*m+i]
				}
				bv := b[p*n+j]
				if transB {
					bv = b[j*k+p]
				}
				s += av * bv
			}
			y[i*n+j] = alpha * s
			if c != nil {
				y[i*n+j] += beta * c[flat([]int{i, j}, cShape)]
			}
		}
	}
	return y
}

func TestGemm(t *testing.T) {
	sizes := []struct{ m, n, k int }{{1, 1, 1}, {5, 7, 3}, {4, 1, 6}, {1, 9, 2}, {17, 33, 65}, {64, 10, 120}}
	rng := newRand()
	for _, s := range sizes {
		m, n, k := s.m, s.n, s.k
		cShapes := [][]int{nil, {}, {1}, {n}, {1, n}, {m, 1}, {m, n}}
		for _, transA := range []bool{false, true} {
			for _, transB := range []bool{false, true} {
				for _, cShape := range cShapes {
					for _, ab := range [][2]float32{{0.7, -1.3}, {1, 1}, {-2, 0}} {
						alpha, beta := ab[0], ab[1]
						name := fmt.Sprintf("%dx%dx%d/tA=%v/tB=%v/C=%v/alpha=%v/beta=%v", m, n, k, transA, transB, cShape, alpha, beta)
						t.Run(name, func(t *testing.T) {
							a, b := randn(rng, m*k, 1), randn(rng, k*n, 1)
							var c []float32
							var wc []float64
							if cShape != nil {
								c = randn(rng, size(cShape), 1)
								wc = wide(c)
							}
							want := refGemm(m, n, k, transA, transB, float64(alpha), wide(a), wide(b), float64(beta), wc, cShape)
							y := poisoned(m * n)
							Gemm(y, m, n, k, transA, transB, alpha, a, b, beta, c, cShape)
							checkClose(t, y, want)
						})
					}
				}
			}
		}
	}
}

func TestMatMul(t *testing.T) {
	rng := newRand()
	for _, s := range []struct{ m, k, n int }{{1, 1, 1}, {3, 5, 7}, {1, 120, 84}, {33, 17, 9}, {128, 256, 64}} {
		a, b := randn(rng, s.m*s.k, 1), randn(rng, s.k*s.n, 1)
		want := refGemm(s.m, s.n, s.k, false, false, 1, wide(a), wide(b), 0, nil, nil)
		y := poisoned(s.m * s.n)
		MatMul(y, a, b, s.m, s.k, s.n)
		t.Run(fmt.Sprintf("%dx%dx%d", s.m, s.k, s.n), func(t *testing.T) { checkClose(t, y, want) })
	}
}
