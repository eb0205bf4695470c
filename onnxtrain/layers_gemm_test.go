package onnxtrain

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestMatmulRowBlocks: products large enough to be split between the CPUs
// by rows (parallelRows) give the plain sums, for each transposition of
// each operand, forward and backward.
func TestMatmulRowBlocks(t *testing.T) {
	const m, n, k = 70, 40, 300 // m*n*k above parallelRows' threshold
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			t.Run(fmt.Sprintf("transA=%v/transB=%v", ta, tb), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(1, 2))
				fill := func(n int) []float32 {
					s := make([]float32, n)
					for i := range s {
						s[i] = float32(rng.NormFloat64())
					}
					return s
				}
				l := &matmul{m: m, n: n, k: k, transA: ta, transB: tb, alpha: 0.5}
				a, b, dy := fill(m*k), fill(k*n), fill(m*n)
				// opA(i, p) and opB(p, j) read the operands as op(A), op(B).
				opA := func(i, p int) float64 {
					if ta {
						return float64(a[p*m+i])
					}
					return float64(a[i*k+p])
				}
				opB := func(p, j int) float64 {
					if tb {
						return float64(b[j*k+p])
					}
					return float64(b[p*n+j])
				}
				y := make([]float32, m*n)
				l.forward(y, [][]float32{a, b})
				da, db := make([]float32, len(a)), make([]float32, len(b))
				l.backward([][]float32{da, db}, dy, y, [][]float32{a, b})
				check := func(name string, got float32, want float64) {
					t.Helper()
					if math.Abs(float64(got)-want) > 1e-4*(1+math.Abs(want)) {
						t.Fatalf("%s = %g, want %g", name, got, want)
					}
				}
				for i := range m {
					for j := range n {
						var s float64
						for p := range k {
							s += opA(i, p) * opB(p, j)
						}
						check(fmt.Sprintf("y[%d,%d]", i, j), y[i*n+j], 0.5*s)
					}
				}
				// d op(A)(i, p) = alpha sum_j dy(i, j) op(B)(p, j), stored
				// where op(A)(i, p) is; likewise for B.
				for i := range m {
					for p := range k {
						var s float64
						for j := range n {
							s += float64(dy[i*n+j]) * opB(p, j)
						}
						at := i*k + p
						if ta {
							at = p*m + i
						}
						check(fmt.Sprintf("dA(%d,%d)", i, p), da[at], 0.5*s)
					}
				}
				for p := range k {
					for j := range n {
						var s float64
						for i := range m {
							s += opA(i, p) * float64(dy[i*n+j])
						}
						at := p*n + j
						if tb {
							at = j*k + p
						}
						check(fmt.Sprintf("dB(%d,%d)", p, j), db[at], 0.5*s)
					}
				}
			})
		}
	}
}
