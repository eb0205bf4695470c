package gemm

import (
	"math/rand/v2"
	"testing"
)

// TestPackedB: products with B packed once equal the package's Sgemm's
// (the same kernels, the same order of sums: bit for bit) over random
// shapes, both layouts of A and B, padded strides, and A of other row
// counts than the one B was packed for; large shapes cross the blocking.
func TestPackedB(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	shapes := []problem{{m: 1, n: 64, k: 1568}, {m: 1, n: 10, k: 784}, {m: 3, n: 700, k: 600}, {m: 128, n: 10, k: 64}}
	for range 60 {
		shapes = append(shapes, problem{m: 1 + rng.IntN(30), n: 1 + rng.IntN(40), k: 1 + rng.IntN(40),
			padA: rng.IntN(3), padB: rng.IntN(3), padC: rng.IntN(3)})
	}
	for i, p := range shapes {
		p.transA, p.transB = rng.IntN(2) == 1, rng.IntN(2) == 1
		p.alpha, p.beta = scalars[i%4].alpha, scalars[i%4].beta
		o := p.operands(rng)
		want := append([]float32(nil), o.c...)
		Sgemm(p.transA, p.transB, p.m, p.n, p.k, p.alpha, o.a, o.lda, o.b, o.ldb, p.beta, want[:len(want)-guard], o.ldc)
		for _, packedFor := range []int{p.m, 1} {
			pb := PackB(p.transB, packedFor, p.n, p.k, o.b, o.ldb)
			got := append([]float32(nil), o.c...)
			pb.Sgemm(p.transA, p.m, p.alpha, o.a, o.lda, p.beta, got[:len(got)-guard], o.ldc)
			if packedFor == p.m {
				for j := range got {
					if got[j] != want[j] {
						t.Fatalf("%+v packed for %d rows: element %d is %g, Sgemm gives %g", p, packedFor, j, got[j], want[j])
					}
				}
			} else {
				p.check(t, "packed for one row", o, got, p.want(o))
			}
		}
	}
}
