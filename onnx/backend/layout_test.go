package backend

import (
	"fmt"
	"math"
	"testing"
)

// TestLayoutStep: both directions of layoutStep move every value where
// the definition puts it, bit for bit (a NaN's payload too), for channel
// counts and planes under, at and past the 8x8 blocks of the vector
// transpose, and for one channel or one pixel.
func TestLayoutStep(t *testing.T) {
	for _, sh := range [][2]int{{1, 9}, {3, 1024}, {7, 5}, {8, 8}, {8, 196}, {16, 784}, {19, 23}, {64, 49}, {32, 1}, {9, 7}} {
		c, hw := sh[0], sh[1]
		x := make([]float32, c*hw)
		for i := range x {
			x[i] = float32(i)*0.25 - 3
		}
		x[len(x)/2] = math.Float32frombits(0x7fc00123)
		for _, toNHWC := range []bool{true, false} {
			t.Run(fmt.Sprintf("%dx%d-toNHWC=%v", c, hw, toNHWC), func(t *testing.T) {
				y := make([]float32, c*hw)
				for i := range y {
					y[i] = -42
				}
				layoutStep{c: c, hw: hw, toNHWC: toNHWC, in: 0, out: 1}.run([][]float32{x, y})
				for ch := range c {
					for p := range hw {
						src, dst := ch*hw+p, p*c+ch // NCHW to NHWC
						if !toNHWC {
							src, dst = p*c+ch, ch*hw+p
						}
						if math.Float32bits(y[dst]) != math.Float32bits(x[src]) {
							t.Fatalf("channel %d, pixel %d: %v, want %v", ch, p, y[dst], x[src])
						}
					}
				}
			})
		}
	}
}
