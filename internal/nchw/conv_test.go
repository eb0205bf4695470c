package nchw

import (
	"fmt"
	"math"
	"testing"
)

// refConv is Conv2D.Forward by its definition, in float64.
func refConv(c Conv2D, x, w, bias []float64) []float64 {
	oh, ow := c.OutH(), c.OutW()
	y := make([]float64, c.OutC*oh*ow)
	for oc := range c.OutC {
		for r := range oh {
			for j := range ow {
				var s float64
				if bias != nil {
					s = bias[oc]
				}
				for ic := range c.InC {
					for kh := range c.KH {
						for kw := range c.KW {
							ih := r*c.StrideH - c.PadTop + kh
							iw := j*c.StrideW - c.PadLeft + kw
							if ih < 0 || ih >= c.InH || iw < 0 || iw >= c.InW {
								continue
							}
							s += w[((oc*c.InC+ic)*c.KH+kh)*c.KW+kw] * x[(ic*c.InH+ih)*c.InW+iw]
						}
					}
				}
				y[(oc*oh+r)*ow+j] = s
			}
		}
	}
	return y
}

func TestConv2D(t *testing.T) {
	tests := []struct {
		name    string
		c       Conv2D
		bias    bool
		wantOut [2]int // OutH, OutW
	}{
		{"1ch-3x3-valid", Conv2D{InC: 1, InH: 5, InW: 5, OutC: 2, KH: 3, KW: 3, StrideH: 1, StrideW: 1}, false, [2]int{3, 3}},
		{"3ch-odd-3x3-pad1", Conv2D{InC: 3, InH: 7, InW: 9, OutC: 5, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1}, true, [2]int{7, 9}},
		{"3ch-5x5-stride2-asympad", Conv2D{InC: 3, InH: 11, InW: 13, OutC: 4, KH: 5, KW: 5, StrideH: 2, StrideW: 2, PadTop: 2, PadLeft: 1, PadBottom: 0, PadRight: 2}, true, [2]int{5, 6}},
		{"5x5-lenet", Conv2D{InC: 1, InH: 28, InW: 28, OutC: 6, KH: 5, KW: 5, StrideH: 1, StrideW: 1, PadTop: 2, PadLeft: 2, PadBottom: 2, PadRight: 2}, true, [2]int{28, 28}},
		{"1x1-direct", Conv2D{InC: 4, InH: 5, InW: 7, OutC: 6, KH: 1, KW: 1, StrideH: 1, StrideW: 1}, false, [2]int{5, 7}},
		{"1x1-direct-bias", Conv2D{InC: 3, InH: 3, InW: 3, OutC: 2, KH: 1, KW: 1, StrideH: 1, StrideW: 1}, true, [2]int{3, 3}},
		{"1x1-stride2", Conv2D{InC: 3, InH: 7, InW: 6, OutC: 5, KH: 1, KW: 1, StrideH: 2, StrideW: 2}, true, [2]int{4, 3}},
		{"1x1-pad", Conv2D{InC: 2, InH: 3, InW: 4, OutC: 3, KH: 1, KW: 1, StrideH: 1, StrideW: 1, PadTop: 1, PadRight: 2}, false, [2]int{4, 6}},
		{"3x2-stride2x1", Conv2D{InC: 3, InH: 8, InW: 5, OutC: 3, KH: 3, KW: 2, StrideH: 2, StrideW: 1, PadBottom: 1, PadLeft: 1}, true, [2]int{4, 5}},
		{"2x2-stride3-gaps", Conv2D{InC: 2, InH: 10, InW: 11, OutC: 3, KH: 2, KW: 2, StrideH: 3, StrideW: 3, PadTop: 1, PadRight: 1}, false, [2]int{4, 4}},
		{"pad-as-kernel", Conv2D{InC: 1, InH: 2, InW: 3, OutC: 2, KH: 3, KW: 3, StrideH: 1, StrideW: 2, PadTop: 3, PadLeft: 3, PadBottom: 3, PadRight: 3}, true, [2]int{6, 4}},
		{"same-width-asympad", Conv2D{InC: 2, InH: 6, InW: 5, OutC: 3, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadTop: 2, PadLeft: 0, PadBottom: 0, PadRight: 2}, true, [2]int{6, 5}},
		{"same-width-deep-pad", Conv2D{InC: 2, InH: 2, InW: 3, OutC: 2, KH: 5, KW: 5, StrideH: 1, StrideW: 1, PadTop: 4, PadLeft: 4}, false, [2]int{2, 3}},
		{"kernel-is-image", Conv2D{InC: 3, InH: 4, InW: 4, OutC: 7, KH: 4, KW: 4, StrideH: 1, StrideW: 1}, true, [2]int{1, 1}},
		{"32to64-3x3-16x16", Conv2D{InC: 32, InH: 16, InW: 16, OutC: 64, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1}, true, [2]int{16, 16}},
	}
	rng := newRand()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c
			if got := [2]int{c.OutH(), c.OutW()}; got != tt.wantOut {
				t.Fatalf("OutH, OutW = %v, want %v", got, tt.wantOut)
			}
			k := c.InC * c.KH * c.KW
			x := randn(rng, c.InC*c.InH*c.InW, 1)
			w := randn(rng, c.OutC*k, 1/math.Sqrt(float64(k)))
			var bias []float32
			if tt.bias {
				bias = randn(rng, c.OutC, 1)
			}
			n := c.OutC * c.OutH() * c.OutW()
			direct := c.KH == 1 && c.KW == 1 && c.StrideH == 1 && c.StrideW == 1 &&
				c.PadTop+c.PadLeft+c.PadBottom+c.PadRight == 0
			size := c.ScratchSize()
			if wantSize := k * c.OutH() * c.OutW(); direct && size != 0 || !direct && size != wantSize {
				t.Fatalf("ScratchSize = %d, want %d (direct %v)", size, wantSize, direct)
			}
			var scratch []float32
			if size > 0 {
				scratch = poisoned(size)
			}
			y := poisoned(n)
			c.Forward(y, x, w, bias, scratch)
			var wb []float64
			if bias != nil {
				wb = wide(bias)
			}
			checkClose(t, y, refConv(c, wide(x), wide(w), wb))
		})
	}
}

// BenchmarkConv2D times a 32 to 64 channel 3x3 convolution with padding 1
// on a 16x16 image, the shape of LeNet's second convolution, and reports
// its arithmetic rate.
func BenchmarkConv2D(b *testing.B) {
	c := Conv2D{InC: 32, InH: 16, InW: 16, OutC: 64, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1}
	rng := newRand()
	k := c.InC * c.KH * c.KW
	x := randn(rng, c.InC*c.InH*c.InW, 1)
	w := randn(rng, c.OutC*k, 0.1)
	bias := randn(rng, c.OutC, 1)
	y := make([]float32, c.OutC*c.OutH()*c.OutW())
	scratch := make([]float32, c.ScratchSize())
	flops := 2 * float64(c.OutC*c.OutH()*c.OutW()*k)
	b.Run(fmt.Sprintf("%dx%dx%d-%d", c.InC, c.InH, c.InW, c.OutC), func(b *testing.B) {
		for b.Loop() {
			c.Forward(y, x, w, bias, scratch)
		}
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
}
