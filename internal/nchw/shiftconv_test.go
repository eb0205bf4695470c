package nchw

import (
	"fmt"
	"testing"
)

// TestShiftConv: Pad, Multiply (in one range and in two, as two CPUs
// split it) and Crop equal the definition over shapes that cover kernels
// wider than tall and the reverse, asymmetric and deep padding, no
// padding, channel counts that are not whole tiles, and no bias; every
// shape runs twice into the same buffers, the second time with Pad
// trusting the padding the first left zero.
func TestShiftConv(t *testing.T) {
	rng := newRand()
	shapes := []Conv2D{
		{InC: 1, InH: 28, InW: 28, OutC: 8, KH: 5, KW: 5, PadTop: 2, PadLeft: 2, PadBottom: 2, PadRight: 2},
		{InC: 8, InH: 14, InW: 14, OutC: 16, KH: 5, KW: 5, PadTop: 2, PadLeft: 2, PadBottom: 2, PadRight: 2},
		{InC: 3, InH: 7, InW: 9, OutC: 5, KH: 3, KW: 3, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1},
		{InC: 2, InH: 6, InW: 5, OutC: 3, KH: 3, KW: 3, PadTop: 2, PadRight: 2},
		{InC: 2, InH: 2, InW: 3, OutC: 2, KH: 5, KW: 5, PadTop: 4, PadLeft: 4},
		{InC: 3, InH: 4, InW: 4, OutC: 7, KH: 4, KW: 4},
		{InC: 6, InH: 14, InW: 14, OutC: 16, KH: 5, KW: 5},
		{InC: 4, InH: 9, InW: 11, OutC: 19, KH: 2, KW: 4, PadTop: 1, PadLeft: 3, PadBottom: 0, PadRight: 1},
		{InC: 5, InH: 13, InW: 3, OutC: 9, KH: 4, KW: 1, PadBottom: 3},
	}
	for _, c := range shapes {
		c.StrideH, c.StrideW = 1, 1
		for _, bias := range []bool{true, false} {
			t.Run(fmt.Sprintf("%dx%dx%d-to-%d-%dx%d-bias=%v", c.InC, c.InH, c.InW, c.OutC, c.KH, c.KW, bias), func(t *testing.T) {
				x := randn(rng, c.InC*c.InH*c.InW, 1)
				w := randn(rng, c.OutC*c.InC*c.KH*c.KW, 0.3)
				var b []float32
				if bias {
					b = randn(rng, c.OutC, 0.5)
				}
				s, err := NewShiftConv(c, w)
				if err != nil {
					t.Fatal(err)
				}
				xp, yf := poisoned(s.PaddedSize()), poisoned(s.FlatSize())
				panel := make([]float32, s.PanelSize())
				for run := range 2 {
					// The second run a new image through the same buffers.
					x = randn(rng, len(x), 1)
					var wb []float64
					if b != nil {
						wb = wide(b)
					}
					want := refConv(c, wide(x), wide(w), wb)
					y := poisoned(c.OutC * c.OutH() * c.OutW())
					s.Pad(xp, x, run > 0)
					half := s.Panels() / 2
					s.Multiply(yf, xp, panel, 0, half)
					s.Multiply(yf, xp, panel, half, s.Panels())
					s.Crop(y, yf, b, 0, c.OutC/2)
					s.Crop(y, yf, b, c.OutC/2, c.OutC)
					checkClose(t, y, want)
				}
			})
		}
	}
}

// TestShiftConvRefuses: strides other than 1, shapes without an output
// and too few weights are errors, not panics.
func TestShiftConvRefuses(t *testing.T) {
	ok := Conv2D{InC: 2, InH: 5, InW: 5, OutC: 3, KH: 3, KW: 3, StrideH: 1, StrideW: 1}
	w := make([]float32, 3*2*9)
	if _, err := NewShiftConv(ok, w); err != nil {
		t.Fatalf("%+v: %v", ok, err)
	}
	bad := []Conv2D{ok, ok, ok}
	bad[0].StrideW = 2
	bad[1].KH = 6
	bad[2].OutC = 0
	for _, c := range bad {
		if _, err := NewShiftConv(c, w); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
	if _, err := NewShiftConv(ok, w[:10]); err == nil {
		t.Error("10 weights for 54: no error")
	}
}
