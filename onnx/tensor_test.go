package onnx

import (
	"math"
	"testing"
)

// TestHalfRounding: every half and bfloat16 comes back from its float32
// as itself, and a float32 halfway between two neighbours rounds to the
// even one, as numpy's astype(float16) rounds.
func TestHalfRounding(t *testing.T) {
	isNaN := func(h uint16) bool { return h&0x7c00 == 0x7c00 && h&0x3ff != 0 }
	for h := range 1 << 16 {
		h := uint16(h)
		f := halfToFloat32(h)
		if got := float32ToHalf(f); got != h && !(isNaN(h) && isNaN(got)) {
			t.Fatalf("half %#04x is %g, back %#04x", h, f, got)
		}
		if b := math.Float32frombits(uint32(h) << 16); !math.IsNaN(float64(b)) && float32ToBFloat16(b) != h {
			t.Fatalf("bfloat16 %#04x is %g, back %#04x", h, b, float32ToBFloat16(b))
		}
		// The float halfway to the next half up (same sign, larger
		// magnitude), where there is one: ties go to the even code.
		if next := h + 1; h&0x7fff < 0x7bff || h&0x7fff == 0x7bff {
			if h&0x7fff == 0x7bff {
				continue // the next is infinity: no halfway float below it
			}
			mid := (float64(halfToFloat32(h)) + float64(halfToFloat32(next))) / 2
			want := h
			if h&1 == 1 {
				want = next
			}
			if got := float32ToHalf(float32(mid)); got != want {
				t.Fatalf("halfway between %#04x and %#04x (%g): %#04x, want %#04x", h, next, mid, got, want)
			}
		}
	}
	for _, c := range []struct {
		f    float32
		want uint16
	}{{65520, 0x7c00}, {65519.99, 0x7bff}, {-1e9, 0xfc00}, {1e-9, 0}, {float32(math.Inf(1)), 0x7c00}} {
		if got := float32ToHalf(c.f); got != c.want {
			t.Errorf("%g: half %#04x, want %#04x", c.f, got, c.want)
		}
	}
}
