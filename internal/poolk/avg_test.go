package poolk

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestAvg2x2: the kernels give the Go loop's bits, special values among
// the pixels (-0, infinities, NaN, subnormals), on widths around the
// vector's 8 and on both strides down, and write nothing past y.
func TestAvg2x2(t *testing.T) {
	specials := []float32{float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.NaN()), math.SmallestNonzeroFloat32, -3 * math.SmallestNonzeroFloat32}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, ow := range []int{1, 5, 7, 8, 9, 14, 16, 23} {
		for _, oh := range []int{1, 3} {
			for _, extra := range []int{0, 3} { // columns past the last window
				w := 2*ow + extra
				for _, step := range []int{2 * w, 3 * w} {
					name := fmt.Sprintf("%dx%d outputs, rows of %d, step %d", oh, ow, w, step)
					x := make([]float32, (oh-1)*step+2*w)
					for i := range x {
						x[i] = float32(rng.NormFloat64())
						if rng.IntN(6) == 0 {
							x[i] = specials[rng.IntN(len(specials))]
						}
					}
					got, want := make([]float32, oh*ow+4), make([]float32, oh*ow)
					for i := oh * ow; i < len(got); i++ {
						got[i] = 7
					}
					Avg2x2(got, x, w, step, oh, ow)
					avg2x2Go(want, x, w, step, oh, ow)
					for i, v := range want {
						if math.Float32bits(got[i]) != math.Float32bits(v) {
							t.Fatalf("%s: output %d is %v, the Go loop's %v", name, i, got[i], v)
						}
					}
					for _, g := range got[oh*ow:] {
						if g != 7 {
							t.Fatalf("%s: wrote past y", name)
						}
					}
					if oy, ox := oh-1, ow-1; oy >= 0 {
						top := x[oy*step+2*ox:]
						sum := float32(0) + top[0]
						sum += top[1]
						sum += top[w]
						sum += top[w+1]
						if v := want[oy*ow+ox]; math.Float32bits(v) != math.Float32bits(sum/4) && !(math.IsNaN(float64(v)) && math.IsNaN(float64(sum))) {
							t.Fatalf("%s: last window %v, want %v", name, v, sum/4)
						}
					}
				}
			}
		}
	}
}
