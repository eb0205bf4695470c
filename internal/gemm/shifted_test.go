package gemm

import (
	"math/rand/v2"
	"testing"
)

// TestShifted: Shifted's product equals the reference product of A and
// the matrix its offsets describe, for every kernel set this CPU runs, row
// counts below, at and past a tile's, with and without a bias, offsets
// repeated and out of order; the rows Mul writes past m hold the bias
// (zero) alone, and C past the tile stays as it was.
func TestShifted(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	saved := defaultKernels
	defer func() { defaultKernels = saved }()
	for _, ks := range append([]*kernelSet{goKernels}, asmKernels...) {
		defaultKernels = ks
		for _, s := range []struct{ m, k int }{{8, 25}, {16, 200}, {1, 1}, {5, 7}, {13, 3}, {3, 301}} {
			for _, withBias := range []bool{false, true} {
				checkShifted(t, rng, ks.name, s.m, s.k, withBias)
			}
		}
	}
}

func checkShifted(t *testing.T, rng *rand.Rand, name string, m, k int, withBias bool) {
	t.Helper()
	x := random(rng, 500)
	off := make([]int, k)
	for l := range off {
		off[l] = rng.IntN(400)
	}
	a := random(rng, m*k)
	var bias []float32
	if withBias {
		bias = random(rng, m)
	}
	s, err := NewShifted(m, k, a, k, off, bias)
	if err != nil {
		t.Fatal(err)
	}
	nr, base := s.Width(), 1+rng.IntN(500-s.Reach())
	// B as a matrix, for the reference.
	b := make([]float32, k*nr)
	for l, o := range off {
		copy(b[l*nr:(l+1)*nr], x[base+o:])
	}
	ldc := nr + 2
	want := make([]float32, s.Rows()*ldc)
	sgemmRef(false, false, m, nr, k, 1, a, k, b, nr, 0, want, ldc)
	for i := range s.Rows() {
		for j := range ldc {
			switch {
			case j >= nr:
				want[i*ldc+j] = sentinel
			case bias != nil && i < m:
				want[i*ldc+j] += bias[i]
			}
		}
	}
	got := make([]float32, len(want))
	for i := range got {
		got[i] = sentinel
	}
	s.Mul(x, base, got, ldc)
	tol := float32(1e-5 * float64(k+1))
	for i, w := range want {
		if d := got[i] - w; d > tol || d < -tol || got[i] != got[i] {
			t.Fatalf("%s m=%d k=%d bias=%v: C[%d][%d] = %g, want %g", name, m, k, withBias, i/ldc, i%ldc, got[i], w)
		}
	}
}

// TestShiftedRefuses: shapes the slices do not hold and negative offsets
// are errors; a Mul reaching past x panics, as Sgemm does.
func TestShiftedRefuses(t *testing.T) {
	a := make([]float32, 6)
	for _, c := range []struct {
		m, k int
		off  []int
		bias []float32
	}{{2, 3, []int{0, 1}, nil}, {2, 3, []int{0, 1, -1}, nil}, {3, 3, []int{0, 1, 2}, nil}, {2, 3, []int{0, 1, 2}, []float32{1}}, {0, 3, []int{0, 1, 2}, nil}} {
		if _, err := NewShifted(c.m, c.k, a, c.k, c.off, c.bias); err == nil {
			t.Errorf("m=%d k=%d off=%v bias=%v: no error", c.m, c.k, c.off, c.bias)
		}
	}
	s, err := NewShifted(2, 3, a, 3, []int{0, 1, 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if recover() == nil {
			t.Error("Mul reaching past x did not panic")
		}
	}()
	s.Mul(make([]float32, s.Reach()), 1, make([]float32, s.Rows()*s.Width()), s.Width())
}
