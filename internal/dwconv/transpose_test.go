package dwconv

import "testing"

// TestRowToPlanes checks every entry of RowToPlanes's planes, and that
// the entries between and past them are left alone, over channel counts
// on either side of the kernel's eight and widths on either side of a
// block.
func TestRowToPlanes(t *testing.T) {
	for _, c := range []int{1, 3, 8, 9, 16, 21} {
		for _, w := range []int{1, 7, 8, 9, 15, 16, 28, 30} {
			ldd := w + 5
			src := make([]float32, w*c)
			for i := range src {
				src[i] = float32(i + 1)
			}
			const guard = -1
			dst := make([]float32, c*ldd+3)
			for i := range dst {
				dst[i] = guard
			}
			RowToPlanes(dst, ldd, src, c, w)
			for i, v := range dst {
				ch, j := i/ldd, i%ldd
				want := float32(guard)
				if ch < c && j < w {
					want = src[j*c+ch]
				}
				if v != want {
					t.Fatalf("c %d, w %d: dst[%d] (plane %d, entry %d) = %v, want %v", c, w, i, ch, j, v, want)
				}
			}
		}
	}
}
