package onnxtrain

import (
	"testing"

	"github.com/lenetkit/lenetkit/internal/kernel"
)

// TestWidenKeepsBothPassesVectorised: a plain block runs on a width where
// its convolution is vectorised and, when its input gradient is wanted,
// that gradient's convolution too if any width has both; it stays on its
// own map where that map has them. On AVX-512, neither cnn28's 14-wide
// block nor Keras's (whose input gradient, to 8 channels, runs on the
// 7-pixel pair tile) needs widening either way.
func TestWidenKeepsBothPassesVectorised(t *testing.T) {
	cases := []struct {
		name   string
		conv   kernel.Conv3x3
		k      int
		needX  bool
		avx512 int // the width on AVX-512
	}{
		{"cnn28/2", kernel.Conv3x3{H: 14, W: 14, In: 16, Out: 32}, 2, true, 14},
		{"cnn28/2/no-dx", kernel.Conv3x3{H: 14, W: 14, In: 16, Out: 32}, 2, false, 14},
		{"keras2onnx/2", kernel.Conv3x3{H: 14, W: 14, In: 8, Out: 16}, 2, true, 14},
		{"keras2onnx/2/no-dx", kernel.Conv3x3{H: 14, W: 14, In: 8, Out: 16}, 2, false, 14},
		{"lenet/2", kernel.Conv3x3{H: 16, W: 16, In: 32, Out: 64}, 4, true, 16},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := widen(tc.conv, tc.k, tc.needX)
			if kernel.KernelName() == "go" {
				if ok {
					t.Errorf("widened to %+v with no assembly kernels", got)
				}
				return
			}
			if !ok {
				t.Fatalf("%+v: no vectorised width", tc.conv)
			}
			if got.H != tc.conv.H || got.In != tc.conv.In || got.Out != tc.conv.Out || got.W < tc.conv.W || got.W%tc.k != 0 {
				t.Fatalf("widened %+v to %+v", tc.conv, got)
			}
			if !got.Vectorized() {
				t.Errorf("%+v: not vectorised", got)
			}
			both := func(c kernel.Conv3x3) bool { return c.Vectorized() && c.BackwardInputVectorized() }
			wide := tc.conv
			wide.W = (wide.W + 15) / 16 * 16
			if tc.needX && !both(got) && both(wide) {
				t.Errorf("%+v: the input gradient is not vectorised, as it is at width 16", got)
			}
			if tc.conv.Vectorized() && (!tc.needX || both(tc.conv)) && got.W != tc.conv.W {
				t.Errorf("%+v: widened to %d, though vectorised as it is", tc.conv, got.W)
			}
			if kernel.KernelName() == "avx512" && got.W != tc.avx512 {
				t.Errorf("%+v: width %d, want %d on AVX-512", tc.conv, got.W, tc.avx512)
			}
		})
	}
}
