package dwconv

import "testing"

// TestRows checks CopyRows and AddRows over widths around the vector
// length, and that the entries between the rows of dst (the padding) are
// left alone, which the masked last vector must not write.
func TestRows(t *testing.T) {
	for _, cols := range []int{1, 7, 8, 9, 15, 16, 28, 30, 65} {
		for _, add := range []bool{false, true} {
			const rows, gap, sgap = 3, 5, 2
			ldd, lds := cols+gap, cols+sgap
			src := make([]float32, rows*lds)
			for i := range src {
				src[i] = float32(i + 1)
			}
			dst := make([]float32, rows*ldd)
			for i := range dst {
				dst[i] = -float32(i)
			}
			want := append([]float32(nil), dst...)
			for r := range rows {
				for c := range cols {
					if add {
						want[r*ldd+c] += src[r*lds+c]
					} else {
						want[r*ldd+c] = src[r*lds+c]
					}
				}
			}
			if add {
				AddRows(dst, ldd, src, lds, rows, cols)
			} else {
				CopyRows(dst, ldd, src, lds, rows, cols)
			}
			for i := range want {
				if dst[i] != want[i] {
					t.Fatalf("%s, cols %d, add %v: dst[%d] = %g, want %g", Kernel(), cols, add, i, dst[i], want[i])
				}
			}
		}
	}
}
