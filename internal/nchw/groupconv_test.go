package nchw

import (
	"math"
	"testing"
)

// refGroupConv is GroupConv2D.Forward by its definition, in float64.
func refGroupConv(c GroupConv2D, x, w, bias []float64) []float64 {
	oh, ow := c.OutH(), c.OutW()
	icg, ocg := c.InC/c.Group, c.OutC/c.Group
	y := make([]float64, c.OutC*oh*ow)
	for oc := range c.OutC {
		g := oc / ocg
		for r := range oh {
			for j := range ow {
				var s float64
				if bias != nil {
					s = bias[oc]
				}
				for i := range icg {
					for kh := range c.KH {
						for kw := range c.KW {
							ih := r*c.StrideH - c.PadTop + kh*c.DilationH
							iw := j*c.StrideW - c.PadLeft + kw*c.DilationW
							if ih < 0 || ih >= c.InH || iw < 0 || iw >= c.InW {
								continue
							}
							s += w[((oc*icg+i)*c.KH+kh)*c.KW+kw] * x[((g*icg+i)*c.InH+ih)*c.InW+iw]
						}
					}
				}
				y[(oc*oh+r)*ow+j] = s
			}
		}
	}
	return y
}

func TestGroupConv2D(t *testing.T) {
	tests := []struct {
		name    string
		c       GroupConv2D
		bias    bool
		wantOut [2]int
	}{
		{"group1-dilation1", GroupConv2D{InC: 3, InH: 7, InW: 9, OutC: 5, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, DilationH: 1, DilationW: 1, Group: 1}, true, [2]int{7, 9}},
		{"depthwise-3x3", GroupConv2D{InC: 4, InH: 6, InW: 5, OutC: 4, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, DilationH: 1, DilationW: 1, Group: 4}, true, [2]int{6, 5}},
		{"depthwise-multiplier2-stride2", GroupConv2D{InC: 3, InH: 9, InW: 8, OutC: 6, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadTop: 1, PadLeft: 0, PadBottom: 1, PadRight: 1, DilationH: 1, DilationW: 1, Group: 3}, false, [2]int{5, 4}},
		{"groups2", GroupConv2D{InC: 6, InH: 5, InW: 5, OutC: 4, KH: 2, KW: 3, StrideH: 1, StrideW: 2, PadRight: 1, DilationH: 1, DilationW: 1, Group: 2}, true, [2]int{4, 2}},
		{"dilation2", GroupConv2D{InC: 2, InH: 9, InW: 10, OutC: 3, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadTop: 2, PadLeft: 2, PadBottom: 2, PadRight: 2, DilationH: 2, DilationW: 2, Group: 1}, true, [2]int{9, 10}},
		{"dilation3x2-stride2-groups", GroupConv2D{InC: 4, InH: 11, InW: 12, OutC: 4, KH: 3, KW: 2, StrideH: 2, StrideW: 3, PadTop: 1, PadLeft: 3, DilationH: 3, DilationW: 2, Group: 2}, false, [2]int{3, 5}},
		{"dilated-pad-only", GroupConv2D{InC: 1, InH: 2, InW: 2, OutC: 1, KH: 2, KW: 2, StrideH: 1, StrideW: 1, PadTop: 2, PadLeft: 2, PadBottom: 2, PadRight: 2, DilationH: 3, DilationW: 3, Group: 1}, true, [2]int{3, 3}},
		{"1d-as-h1", GroupConv2D{InC: 2, InH: 1, InW: 10, OutC: 2, KH: 1, KW: 3, StrideH: 1, StrideW: 1, PadLeft: 2, PadRight: 2, DilationH: 1, DilationW: 2, Group: 2}, true, [2]int{1, 10}},
	}
	rng := newRand()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c
			if got := [2]int{c.OutH(), c.OutW()}; got != tt.wantOut {
				t.Fatalf("OutH, OutW = %v, want %v", got, tt.wantOut)
			}
			k := c.InC / c.Group * c.KH * c.KW
			x := randn(rng, c.InC*c.InH*c.InW, 1)
			w := randn(rng, c.OutC*k, 1/math.Sqrt(float64(k)))
			var bias []float32
			var wb []float64
			if tt.bias {
				bias = randn(rng, c.OutC, 1)
				wb = wide(bias)
			}
			y := poisoned(c.OutC * c.OutH() * c.OutW())
			c.Forward(y, x, w, bias, poisoned(c.ScratchSize()))
			checkClose(t, y, refGroupConv(c, wide(x), wide(w), wb))
		})
	}
	// Group 1 and dilation 1 agree with Conv2D.
	g := tests[0].c
	c := Conv2D{InC: g.InC, InH: g.InH, InW: g.InW, OutC: g.OutC, KH: g.KH, KW: g.KW, StrideH: 1, StrideW: 1, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1}
	x := randn(rng, g.InC*g.InH*g.InW, 1)
	w := randn(rng, g.OutC*g.InC*9, 0.3)
	y := poisoned(g.OutC * g.OutH() * g.OutW())
	g.Forward(y, x, w, nil, make([]float32, g.ScratchSize()))
	checkClose(t, y, refConv(c, wide(x), wide(w), nil))
}
