package dataset

import (
	"fmt"
	"testing"
)

// TestAsChannels writes grey images as equal channels, first and last,
// from a buffer of their own and in place, and checks every value.
func TestAsChannels(t *testing.T) {
	for _, tc := range []struct{ n, px, c int }{{1, 4, 3}, {3, 5, 3}, {2, 6, 1}, {4, 1, 2}} {
		for _, last := range []bool{false, true} {
			for _, inPlace := range []bool{false, true} {
				t.Run(fmt.Sprintf("%d images of %d, %d channels, last %v, in place %v", tc.n, tc.px, tc.c, last, inPlace), func(t *testing.T) {
					grey := make([]float32, tc.n*tc.px)
					for i := range grey {
						grey[i] = float32(i + 1)
					}
					dst := make([]float32, tc.n*tc.c*tc.px)
					src := grey
					if inPlace {
						copy(dst, grey)
						src = dst
					}
					AsChannels(dst, src, tc.n, tc.px, tc.c, last)
					for i := range tc.n {
						for k := range tc.c {
							for j := range tc.px {
								at := (i*tc.c+k)*tc.px + j
								if last {
									at = (i*tc.px+j)*tc.c + k
								}
								if want := grey[i*tc.px+j]; dst[at] != want {
									t.Fatalf("image %d channel %d value %d: %g, want %g", i, k, j, dst[at], want)
								}
							}
						}
					}
				})
			}
		}
	}
}
