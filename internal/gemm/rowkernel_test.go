package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestRowKernelSameBits: a product of one row with B packed runs on the
// one-row kernel of the packed kernel's width, and gives that row exactly
// the bits the packed kernel gives it among many rows, whatever the row's
// place in the tile, across depth blocks (k beyond kc), for every kernel
// set this CPU runs, both layouts of B and the alpha and beta a network's
// dense layer uses.
func TestRowKernelSameBits(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, ks := range asmKernels {
		for _, kern := range ks.kernels {
			if r := ks.rowKernel(kern); r == kern || r.mr != 1 {
				t.Errorf("%s: no one-row kernel for %s", ks.name, kern.name)
			}
		}
		for _, shape := range []struct{ m, n, k int }{{8, 64, 1568}, {64, 64, 1568}, {5, 10, 300}, {16, 37, 784}, {3, 16, 1}} {
			for _, transB := range []bool{false, true} {
				name := fmt.Sprintf("%s/%dx%dx%d/transB=%v", ks.name, shape.m, shape.n, shape.k, transB)
				m, n, k := shape.m, shape.n, shape.k
				b := randomSlice(rng, n*k)
				ldb := n
				if transB {
					ldb = k
				}
				p := packWith(ks, transB, m, n, k, b, ldb)
				a := randomSlice(rng, m*k)
				for _, beta := range []float32{0, 1} {
					c0 := randomSlice(rng, m*n)
					all := append([]float32(nil), c0...)
					p.Sgemm(false, m, 1, a, k, beta, all, n)
					for i := range m {
						row := append([]float32(nil), c0[i*n:(i+1)*n]...)
						p.Sgemm(false, 1, 1, a[i*k:(i+1)*k], k, beta, row, n)
						for j := range n {
							if math.Float32bits(row[j]) != math.Float32bits(all[i*n+j]) {
								t.Fatalf("%s beta=%g: row %d column %d alone %g, among %d rows %g", name, beta, i, j, row[j], m, all[i*n+j])
							}
						}
					}
				}
			}
		}
	}
}

// packWith packs B as PackB does, for kernel set ks.
func packWith(ks *kernelSet, transB bool, m, n, k int, b []float32, ldb int) *PackedB {
	saved := defaultKernels
	defaultKernels = ks
	defer func() { defaultKernels = saved }()
	return PackB(transB, m, n, k, b, ldb)
}

func randomSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = rng.Float32()*2 - 1
	}
	return s
}
