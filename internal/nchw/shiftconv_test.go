package nchw

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
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
		// Strides: phase planes.
		{InC: 16, InH: 28, InW: 28, OutC: 32, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1},
		{InC: 3, InH: 9, InW: 11, OutC: 5, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1},
		{InC: 2, InH: 10, InW: 13, OutC: 4, KH: 5, KW: 4, StrideH: 3, StrideW: 2, PadTop: 2, PadLeft: 3, PadBottom: 0, PadRight: 1},
		{InC: 4, InH: 8, InW: 8, OutC: 6, KH: 1, KW: 1, StrideH: 2, StrideW: 2},
		{InC: 1, InH: 7, InW: 6, OutC: 3, KH: 2, KW: 3, StrideH: 1, StrideW: 4, PadLeft: 1, PadRight: 2},
		{InC: 2, InH: 5, InW: 5, OutC: 2, KH: 3, KW: 3, StrideH: 4, StrideW: 3, PadTop: 2, PadLeft: 2, PadBottom: 2, PadRight: 2},
	}
	for _, c := range shapes {
		c.StrideH, c.StrideW = max(c.StrideH, 1), max(c.StrideW, 1)
		for _, bias := range []bool{true, false} {
			t.Run(fmt.Sprintf("%dx%dx%d-to-%d-%dx%d-s%dx%d-bias=%v", c.InC, c.InH, c.InW, c.OutC, c.KH, c.KW, c.StrideH, c.StrideW, bias), func(t *testing.T) {
				x := randn(rng, c.InC*c.InH*c.InW, 1)
				w := randn(rng, c.OutC*c.InC*c.KH*c.KW, 0.3)
				var b []float32
				if bias {
					b = randn(rng, c.OutC, 0.5)
				}
				s, err := NewShiftConv(c, w, b)
				if err != nil {
					t.Fatal(err)
				}
				xp, yf := poisoned(s.PaddedSize()), poisoned(s.FlatSize())
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
					half := s.Tiles() / 2
					s.Multiply(yf, xp, 0, half)
					s.Multiply(yf, xp, half, s.Tiles())
					s.Crop(y, yf, 0, c.OutC/2)
					s.Crop(y, yf, c.OutC/2, c.OutC)
					checkClose(t, y, want)
				}
			})
		}
	}
}

// TestShiftConvRefuses: strides over 4, shapes without an output
// and too few weights are errors, not panics.
func TestShiftConvRefuses(t *testing.T) {
	ok := Conv2D{InC: 2, InH: 5, InW: 5, OutC: 3, KH: 3, KW: 3, StrideH: 1, StrideW: 1}
	w := make([]float32, 3*2*9)
	if _, err := NewShiftConv(ok, w, nil); err != nil {
		t.Fatalf("%+v: %v", ok, err)
	}
	bad := []Conv2D{ok, ok, ok}
	bad[0].StrideW = 5
	bad[1].KH = 6
	bad[2].OutC = 0
	for _, c := range bad {
		if _, err := NewShiftConv(c, w, nil); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
	if _, err := NewShiftConv(ok, w[:10], nil); err == nil {
		t.Error("10 weights for 54: no error")
	}
}

// BenchmarkShiftConv times CNTK mnist-8's two 5x5 convolutions and a
// ResNet's 3x3 of stride 2, one image.
func BenchmarkShiftConv(b *testing.B) {
	for _, c := range []Conv2D{
		{InC: 1, InH: 28, InW: 28, OutC: 8, KH: 5, KW: 5, StrideH: 1, StrideW: 1, PadTop: 2, PadLeft: 2, PadBottom: 2, PadRight: 2},
		{InC: 8, InH: 14, InW: 14, OutC: 16, KH: 5, KW: 5, StrideH: 1, StrideW: 1, PadTop: 2, PadLeft: 2, PadBottom: 2, PadRight: 2},
		{InC: 16, InH: 28, InW: 28, OutC: 32, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1},
	} {
		b.Run(fmt.Sprintf("%dto%d-%dx%d-%dx%d-s%d", c.InC, c.OutC, c.InH, c.InW, c.KH, c.KW, c.StrideH), func(b *testing.B) {
			rng := newRand()
			s, err := NewShiftConv(c, randn(rng, c.OutC*c.InC*c.KH*c.KW, 0.3), randn(rng, c.OutC, 1))
			if err != nil {
				b.Fatal(err)
			}
			x := randn(rng, c.InC*c.InH*c.InW, 1)
			xp, yf := make([]float32, s.PaddedSize()), make([]float32, s.FlatSize())
			y := make([]float32, c.OutC*c.OutH()*c.OutW())
			for b.Loop() {
				s.Pad(xp, x, true)
				s.Multiply(yf, xp, 0, s.Tiles())
				s.Crop(y, yf, 0, c.OutC)
			}
		})
	}
}

// TestShiftConvReluMaxPool: pooling the flat output in place equals Crop
// then Pool2D with Relu, bit for bit, for windows of 2, 3 and 4 (the
// general loop), maps the windows do and do not divide, and NaN planted
// in some windows (skipped) and filling others (0).
func TestShiftConvReluMaxPool(t *testing.T) {
	rng := newRand()
	for _, c := range []Conv2D{
		{InC: 1, InH: 28, InW: 28, OutC: 8, KH: 5, KW: 5, PadTop: 2, PadLeft: 2, PadBottom: 2, PadRight: 2},
		{InC: 8, InH: 14, InW: 14, OutC: 16, KH: 5, KW: 5, PadTop: 2, PadLeft: 2, PadBottom: 2, PadRight: 2},
		{InC: 3, InH: 11, InW: 9, OutC: 5, KH: 3, KW: 3, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1},
	} {
		s, yf := flatOutput(t, rng, c)
		c = s.Conv2D
		oh, ow := c.OutH(), c.OutW()
		nan := float32(math.NaN())
		yf[3] = nan
		yf[s.FlatStride()+s.FlatWidth()+1] = nan
		for r := range 4 { // channel 0's first 4x4 block, every window of 2 or 4 and one of 3
			for j := range 4 {
				yf[r*s.FlatWidth()+j+4] = nan
			}
		}
		for _, k := range []int{2, 3, 4} {
			y := poisoned(c.OutC * oh * ow)
			s.Crop(y, yf, 0, c.OutC)
			p := Pool2D{C: c.OutC, H: oh, W: ow, KH: k, KW: k, StrideH: k, StrideW: k, Max: true, Relu: true}
			want := poisoned(c.OutC * p.OutH() * p.OutW())
			p.Forward(want, y)
			got := poisoned(len(want))
			s.ReluMaxPool(got, yf, k, 0, 1)
			s.ReluMaxPool(got, yf, k, 1, c.OutC)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%+v k=%d: element %d is %v, Pool2D gives %v", c, k, i, got[i], want[i])
				}
			}
		}
	}
}

// TestShiftConvActAvgPool: the activation and average pooling of the
// flat output in place equal Crop, the activation and avgWindow over
// each window, bit for bit, for windows of 2 (poolk.Avg2x2), 3 and 4, maps the
// windows do and do not divide, and a NaN, which its window keeps.
func TestShiftConvActAvgPool(t *testing.T) {
	rng := newRand()
	acts := map[string]func(y, x []float32){"none": nil, "Tanh": Tanh, "Relu": Relu}
	for _, c := range []Conv2D{
		{InC: 1, InH: 32, InW: 32, OutC: 6, KH: 5, KW: 5},
		{InC: 6, InH: 14, InW: 14, OutC: 16, KH: 5, KW: 5},
		{InC: 3, InH: 11, InW: 9, OutC: 5, KH: 3, KW: 3, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1},
	} {
		s, flat := flatOutput(t, rng, c)
		c = s.Conv2D
		flat[s.FlatStride()+s.FlatWidth()+1] = float32(math.NaN())
		oh, ow := c.OutH(), c.OutW()
		for name, act := range acts {
			for _, k := range []int{2, 3, 4} {
				y := poisoned(c.OutC * oh * ow)
				s.Crop(y, flat, 0, c.OutC)
				if act != nil {
					act(y, y)
				}
				ph, pw := (oh-k)/k+1, (ow-k)/k+1
				want := poisoned(c.OutC * ph * pw)
				for oc := range c.OutC {
					for r := range ph {
						for j := range pw {
							want[(oc*ph+r)*pw+j] = avgWindow(y[oc*oh*ow:(oc+1)*oh*ow], ow, r*k, r*k+k, j*k, j*k+k, k*k)
						}
					}
				}
				yf := slices.Clone(flat) // ActAvgPool activates it in place
				got := poisoned(len(want))
				s.ActAvgPool(got, yf, act, k, 0, 2)
				s.ActAvgPool(got, yf, act, k, 2, c.OutC)
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%+v %s k=%d: element %d is %v, want %v", c, name, k, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// flatOutput is the flat output of c at stride 1 (s.Conv2D), with random
// weights, bias and image, for the tests of what reads it in place.
func flatOutput(t *testing.T, rng *rand.Rand, c Conv2D) (ShiftConv, []float32) {
	t.Helper()
	c.StrideH, c.StrideW = 1, 1
	s, err := NewShiftConv(c, randn(rng, c.OutC*c.InC*c.KH*c.KW, 0.3), randn(rng, c.OutC, 0.5))
	if err != nil {
		t.Fatal(err)
	}
	xp, yf := make([]float32, s.PaddedSize()), make([]float32, s.FlatSize())
	s.Pad(xp, randn(rng, c.InC*c.InH*c.InW, 1), false)
	s.Multiply(yf, xp, 0, s.Tiles())
	return s, yf
}

// TestShiftConvActCrop: Crop and then the activation.
func TestShiftConvActCrop(t *testing.T) {
	c := Conv2D{InC: 2, InH: 9, InW: 12, OutC: 3, KH: 3, KW: 3}
	s, yf := flatOutput(t, newRand(), c)
	c = s.Conv2D
	want, got := poisoned(c.OutC*c.OutH()*c.OutW()), poisoned(c.OutC*c.OutH()*c.OutW())
	s.Crop(want, yf, 0, c.OutC)
	Tanh(want, want)
	s.ActCrop(got, yf, Tanh, 0, 1)
	s.ActCrop(got, yf, Tanh, 1, c.OutC)
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("element %d is %v, want %v", i, got[i], want[i])
		}
	}
}
