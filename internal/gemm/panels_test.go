package gemm

import (
	"math/rand/v2"
	"testing"
)

// TestPackedAMulPanel: A packed once times a panel of B equals the
// reference product, for every kernel set this CPU runs (row counts
// below, at and past a tile's; depths of 1 to deeper than a block), and C
// outside the panel's columns stays as it was.
func TestPackedAMulPanel(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	saved := defaultKernels
	defer func() { defaultKernels = saved }()
	for _, ks := range append([]*kernelSet{goKernels}, asmKernels...) {
		defaultKernels = ks
		for _, s := range []struct{ m, k, n int }{{8, 25, 784}, {16, 200, 196}, {1, 1, 3}, {5, 7, 40}, {13, 300, 64}, {17, 9, 10}} {
			// B is one panel: k rows of the kernel's width.
			nr := PackA(s.m, s.k, make([]float32, s.m*s.k), s.k, s.n).PanelWidth()
			p := problem{m: s.m, n: nr, k: s.k, alpha: 1, padC: 3}
			o := p.operands(rng)
			pa := PackA(s.m, s.k, o.a, o.lda, s.n)
			got := append([]float32(nil), o.c...)
			pa.MulPanel(o.b, got[:len(got)-guard], o.ldc)
			p.check(t, ks.name, o, got, p.want(o))
		}
	}
}

// TestPackAPanics: a matrix its slice does not hold is refused, as Sgemm
// refuses one.
func TestPackAPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("PackA of 3x4 from 11 floats did not panic")
		}
	}()
	PackA(3, 4, make([]float32, 11), 4, 10)
}
