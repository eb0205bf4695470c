package dwconv

import (
	"math"
	"math/rand/v2"
	"testing"
)

// tapsRef and dotsRef are Taps and Dots as their documentation reads, in
// float64.
func tapsRef(y, p, k []float32, off []int) {
	for i := range y {
		var s float64
		for t, o := range off {
			s += float64(k[t]) * float64(p[i+o])
		}
		y[i] = float32(s)
	}
}

func dotsRef(dk, g, p []float32, off []int) {
	for t, o := range off {
		var s float64
		for i := range g {
			s += float64(g[i]) * float64(p[i+o])
		}
		dk[t] += float32(s)
	}
}

// TestKernels compares Taps and Dots, with whichever kernels this CPU runs,
// with the references over lengths around the vector loops' edges and tap
// counts that leave the three-tap kernels a remainder.
func TestKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 7, 8, 9, 63, 64, 65, 100, 840, 1031} {
		for _, nt := range []int{1, 2, 3, 4, 5, 9, 25} {
			off := make([]int, nt)
			for j := range off {
				off[j] = rng.IntN(40)
			}
			p, k, g := make([]float32, n+40), make([]float32, nt), make([]float32, n)
			for _, v := range [][]float32{p, k, g} {
				for j := range v {
					v[j] = rng.Float32()*2 - 1
				}
			}
			y, want := make([]float32, n), make([]float32, n)
			for j := range y {
				y[j] = 7 // Taps must overwrite, not add
			}
			Taps(y, p, k, off)
			tapsRef(want, p, k, off)
			dk, wantDK := make([]float32, nt), make([]float32, nt)
			for j := range dk {
				dk[j], wantDK[j] = 1, 1 // Dots adds
			}
			Dots(dk, g, p, off)
			dotsRef(wantDK, g, p, off)
			for _, r := range []struct {
				what      string
				got, want []float32
			}{{"Taps", y, want}, {"Dots", dk, wantDK}} {
				for j := range r.want {
					if d := math.Abs(float64(r.got[j] - r.want[j])); d > 1e-5*(1+math.Sqrt(float64(n))) {
						t.Fatalf("%s (%s), n %d, %d taps: [%d] = %g, want %g", r.what, Kernel(), n, nt, j, r.got[j], r.want[j])
					}
				}
			}
		}
	}
}

// TestPad checks the shifted copy, cropping on each side, and that the
// slack past rows x cols is zeroed.
func TestPad(t *testing.T) {
	src := []float32{1, 2, 3, 4, 5, 6} // 2 x 3
	for _, tc := range []struct {
		name            string
		rows, cols, len int
		top, left       int
		want            []float32
	}{
		{"border", 4, 5, 21, 1, 1, []float32{0, 0, 0, 0, 0, 0, 1, 2, 3, 0, 0, 4, 5, 6, 0, 0, 0, 0, 0, 0, 0}},
		{"cropped", 1, 2, 3, -1, -1, []float32{5, 6, 0}},
		{"right edge", 2, 4, 8, 0, 2, []float32{0, 0, 1, 2, 0, 0, 4, 5}},
		{"outside", 2, 2, 4, 0, 5, []float32{0, 0, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := make([]float32, tc.len)
			for j := range dst {
				dst[j] = 9
			}
			Pad(dst, tc.rows, tc.cols, src, 2, 3, tc.top, tc.left)
			for j := range tc.want {
				if dst[j] != tc.want[j] {
					t.Fatalf("got %v, want %v", dst, tc.want)
				}
			}
		})
	}
}
