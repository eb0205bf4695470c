package dwconv

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestTapRows runs TapRows, over the vector kernels of 1 to 8 vectors a
// row (two rows at a time up to 4, then one), the 3x3 kernels' strips of
// any width and the Go loop past them, against float64 sums: widths on either
// side of a vector, strides wider than the rows, a Relu or not, NaN and
// infinite inputs, and rows that must be left alone between the outputs.
func TestTapRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 5))
	for _, tc := range []struct {
		rows, cols, kh, kw int
		relu               bool
		nan                bool
	}{
		{28, 28, 3, 3, false, false}, {28, 28, 3, 3, true, false}, {5, 8, 3, 3, true, false}, {3, 9, 2, 2, false, false},
		{4, 15, 1, 3, true, false}, {2, 16, 3, 1, false, false}, {3, 17, 5, 5, true, false}, {7, 31, 3, 3, true, false},
		{2, 40, 3, 3, false, false}, {3, 57, 3, 3, true, false}, {2, 64, 3, 3, true, false}, {2, 65, 3, 3, true, false},
		{5, 8, 2, 3, true, false}, {3, 31, 2, 3, true, false}, {2, 40, 2, 3, false, false}, {3, 57, 3, 2, true, false}, {3, 64, 2, 3, false, false},
		{3, 47, 3, 3, true, false}, {5, 130, 3, 3, true, false}, {3, 12, 3, 3, true, true},
		{1, 20, 3, 3, true, false}, {2, 12, 3, 3, false, false}, {3, 7, 3, 3, true, false}, {1, 1, 1, 1, false, false}, {6, 11, 3, 3, true, true}, {6, 24, 3, 3, false, true},
	} {
		ldp := tc.cols + tc.kw - 1 + 3 // wider than the window needs
		ldy := tc.cols + 2
		p := make([]float32, (tc.rows+tc.kh-1)*ldp+tc.kw)
		for i := range p {
			p[i] = float32(rng.NormFloat64())
		}
		if tc.nan {
			p[ldp+3], p[2*ldp+5] = float32(math.NaN()), float32(math.Inf(-1))
		}
		var off []int
		for i := range tc.kh {
			for j := range tc.kw {
				off = append(off, i*ldp+j)
			}
		}
		k := make([]float32, len(off))
		for i := range k {
			k[i] = float32(rng.NormFloat64())
		}
		const bias, guard = float32(0.25), float32(-7)
		y := make([]float32, tc.rows*ldy)
		for i := range y {
			y[i] = guard
		}
		TapRows(y, ldy, p, ldp, tc.rows, tc.cols, k, off, bias, tc.relu)
		for r := range tc.rows {
			for j := range ldy {
				got := y[r*ldy+j]
				if j >= tc.cols {
					if got != guard {
						t.Fatalf("%+v: y[%d][%d] past the row written: %v", tc, r, j, got)
					}
					continue
				}
				want := float64(bias)
				for i, o := range off {
					want += float64(k[i]) * float64(p[r*ldp+j+o])
				}
				if tc.relu && want <= 0 {
					want = 0
				}
				switch {
				case math.IsNaN(want):
					if got == got {
						t.Fatalf("%+v: y[%d][%d] = %v, want NaN", tc, r, j, got)
					}
				case math.IsInf(want, 0):
					if float64(got) != want {
						t.Fatalf("%+v: y[%d][%d] = %v, want %v", tc, r, j, got, want)
					}
				case math.Abs(float64(got)-want) > 1e-5*(1+math.Abs(want)):
					t.Fatalf("%+v: y[%d][%d] = %v, want %v", tc, r, j, got, want)
				}
			}
		}
	}
}
