package nchw

import (
	"math"
	"testing"
)

// refPoolOut is the number of windows along an axis, by ONNX's formula
// written with floating-point floor and ceil, dropping in ceil mode a last
// window that starts in the end padding.
func refPoolOut(n, k, s, pb, pe int, ceil bool) int {
	q := float64(n+pb+pe-k) / float64(s)
	if !ceil {
		return int(math.Floor(q)) + 1
	}
	out := int(math.Ceil(q)) + 1
	if start := (out-1)*s - pb; start >= n {
		out--
	}
	return out
}

// refPool is Pool2D.Forward by its definition, in float64: each window
// tap is tested on its own against the input and the padded input.
func refPool(p Pool2D, x []float64) []float64 {
	oh := refPoolOut(p.H, p.KH, p.StrideH, p.PadTop, p.PadBottom, p.CeilMode)
	ow := refPoolOut(p.W, p.KW, p.StrideW, p.PadLeft, p.PadRight, p.CeilMode)
	y := make([]float64, p.C*oh*ow)
	for c := range p.C {
		for r := range oh {
			for j := range ow {
				m, sum := math.Inf(-1), 0.0
				valid, padded := 0, 0
				for kh := range p.KH {
					for kw := range p.KW {
						ih := r*p.StrideH - p.PadTop + kh
						iw := j*p.StrideW - p.PadLeft + kw
						if ih < p.H+p.PadBottom && iw < p.W+p.PadRight {
							padded++ // ih, iw >= -pad always holds
						}
						if ih < 0 || ih >= p.H || iw < 0 || iw >= p.W {
							continue
						}
						v := x[(c*p.H+ih)*p.W+iw]
						m = math.Max(m, v)
						sum += v
						valid++
					}
				}
				out := &y[(c*oh+r)*ow+j]
				switch {
				case p.Max:
					*out = m
				case p.CountIncludePad:
					*out = sum / float64(padded)
				default:
					*out = sum / float64(valid)
				}
			}
		}
	}
	return y
}

func TestPoolOut(t *testing.T) {
	// Sizes worked out by hand from ONNX's formula, with PyTorch's rule
	// for ceil mode.
	tests := []struct {
		n, k, s, pb, pe int
		ceil            bool
		want            int
	}{
		{8, 2, 2, 0, 0, false, 4},
		{7, 2, 2, 0, 0, false, 3},
		{7, 2, 2, 0, 0, true, 4},
		{8, 3, 2, 0, 0, false, 3},
		{8, 3, 2, 0, 0, true, 4},
		{6, 3, 2, 1, 1, true, 4},
		{5, 3, 2, 1, 1, true, 3},
		// ceil would add a window starting in the end padding: dropped.
		{4, 2, 2, 0, 1, true, 2},
		{3, 3, 3, 0, 1, true, 1},
		{3, 3, 3, 0, 1, false, 1},
		{1, 1, 1, 0, 0, true, 1},
	}
	for _, tt := range tests {
		p := Pool2D{C: 1, H: tt.n, W: tt.n, KH: tt.k, KW: tt.k, StrideH: tt.s, StrideW: tt.s,
			PadTop: tt.pb, PadLeft: tt.pb, PadBottom: tt.pe, PadRight: tt.pe, CeilMode: tt.ceil}
		if got := p.OutH(); got != tt.want {
			t.Errorf("%+v: OutH = %d, want %d", tt, got, tt.want)
		}
		if got := p.OutW(); got != tt.want {
			t.Errorf("%+v: OutW = %d, want %d", tt, got, tt.want)
		}
	}
}

func TestPool2D(t *testing.T) {
	shapes := []struct {
		name string
		p    Pool2D
	}{
		{"2x2-s2", Pool2D{C: 3, H: 8, W: 8, KH: 2, KW: 2, StrideH: 2, StrideW: 2}},
		{"2x2-s2-odd-floor", Pool2D{C: 2, H: 7, W: 9, KH: 2, KW: 2, StrideH: 2, StrideW: 2}},
		{"2x2-s2-odd-ceil", Pool2D{C: 2, H: 7, W: 9, KH: 2, KW: 2, StrideH: 2, StrideW: 2, CeilMode: true}},
		{"3x3-s2-pad1", Pool2D{C: 3, H: 7, W: 7, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1}},
		{"3x3-s2-pad1-ceil-past-padding", Pool2D{C: 2, H: 6, W: 6, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, CeilMode: true}},
		{"3x2-asympad-s1x2", Pool2D{C: 3, H: 5, W: 8, KH: 3, KW: 2, StrideH: 1, StrideW: 2, PadTop: 2, PadLeft: 0, PadBottom: 1, PadRight: 1}},
		{"5x5-s3-pad2-ceil", Pool2D{C: 1, H: 11, W: 10, KH: 5, KW: 5, StrideH: 3, StrideW: 3, PadTop: 2, PadLeft: 1, PadBottom: 0, PadRight: 2, CeilMode: true}},
		{"ceil-drops-window", Pool2D{C: 2, H: 4, W: 4, KH: 2, KW: 2, StrideH: 2, StrideW: 2, PadBottom: 1, PadRight: 1, CeilMode: true}},
		{"1x1-s2", Pool2D{C: 3, H: 5, W: 5, KH: 1, KW: 1, StrideH: 2, StrideW: 2}},
		{"global-window", Pool2D{C: 4, H: 3, W: 5, KH: 3, KW: 5, StrideH: 1, StrideW: 1}},
		{"3x3-s3-inside", Pool2D{C: 2, H: 9, W: 10, KH: 3, KW: 3, StrideH: 3, StrideW: 3}},
		{"3x3-s1-overlapping", Pool2D{C: 2, H: 6, W: 7, KH: 3, KW: 3, StrideH: 1, StrideW: 1}},
		{"2x2-s2x1", Pool2D{C: 2, H: 6, W: 7, KH: 2, KW: 2, StrideH: 2, StrideW: 1}},
		{"2x2-s2-pad-right-only", Pool2D{C: 2, H: 6, W: 7, KH: 2, KW: 2, StrideH: 2, StrideW: 2, PadRight: 1}},
	}
	kinds := []struct {
		name                string
		max, inclPads, relu bool
	}{
		{"max", true, false, false},
		{"max-after-relu", true, false, true},
		{"avg", false, false, false},
		{"avg-include-pad", false, true, false},
	}
	rng := newRand()
	for _, s := range shapes {
		for _, k := range kinds {
			t.Run(s.name+"/"+k.name, func(t *testing.T) {
				p := s.p
				p.Max, p.CountIncludePad, p.Relu = k.max, k.inclPads, k.relu
				oh := refPoolOut(p.H, p.KH, p.StrideH, p.PadTop, p.PadBottom, p.CeilMode)
				ow := refPoolOut(p.W, p.KW, p.StrideW, p.PadLeft, p.PadRight, p.CeilMode)
				if p.OutH() != oh || p.OutW() != ow {
					t.Fatalf("OutH, OutW = %d, %d, want %d, %d", p.OutH(), p.OutW(), oh, ow)
				}
				// Negative inputs make a max that wrongly counted the
				// padding as 0 show.
				x := randn(rng, p.C*p.H*p.W, 1)
				for i := range x {
					x[i] -= 1.5
				}
				y := poisoned(p.C * oh * ow)
				p.Forward(y, x)
				// Relu: the pooling of the ReLU of x.
				in := wide(x)
				for i, v := range in {
					if k.relu && v < 0 {
						in[i] = 0
					}
				}
				checkClose(t, y, refPool(p, in))
			})
		}
	}
}

func TestGlobalAveragePool(t *testing.T) {
	rng := newRand()
	for _, tt := range []struct{ c, hw int }{{1, 1}, {3, 1}, {1, 49}, {5, 16}, {64, 7 * 7}, {2, 10000}} {
		x := randn(rng, tt.c*tt.hw, 1)
		want := make([]float64, tt.c)
		for i := range tt.c {
			for j := range tt.hw {
				want[i] += float64(x[i*tt.hw+j])
			}
			want[i] /= float64(tt.hw)
		}
		y := poisoned(tt.c)
		GlobalAveragePool(y, x, tt.c, tt.hw)
		checkClose(t, y, want)
	}
}

// TestPoolReluNaN: max pooling after a ReLU skips NaN as maxWindow does:
// a window of NaN and negatives gives 0, one with a positive value gives
// it, on both the 2x2 loop and the general one.
func TestPoolReluNaN(t *testing.T) {
	nan := float32(math.NaN())
	for _, k := range []int{2, 3} {
		p := Pool2D{C: 1, H: k, W: 2 * k, KH: k, KW: k, StrideH: k, StrideW: k, Max: true, Relu: true}
		x := make([]float32, k*2*k)
		for i := range x {
			x[i] = -1
		}
		x[0], x[k] = nan, nan // one in each window
		x[k+1] = 5            // the second window's
		y := make([]float32, 2)
		p.Forward(y, x)
		if y[0] != 0 || y[1] != 5 {
			t.Errorf("%dx%d: %v, want [0 5]", k, k, y)
		}
	}
}

// TestAvgInside: average pooling where every window lies inside the map
// sums each window as avgWindow does, bit for bit: 2x2 at stride 2 (poolk.Avg2x2)
// and the general loop, overlapping and not, a NaN kept in its windows.
func TestAvgInside(t *testing.T) {
	rng := newRand()
	for _, p := range []Pool2D{
		{C: 3, H: 8, W: 9, KH: 2, KW: 2, StrideH: 2, StrideW: 2},
		{C: 2, H: 7, W: 10, KH: 2, KW: 2, StrideH: 1, StrideW: 2},
		{C: 2, H: 9, W: 9, KH: 3, KW: 3, StrideH: 3, StrideW: 3, CountIncludePad: true},
		{C: 1, H: 6, W: 7, KH: 3, KW: 2, StrideH: 1, StrideW: 1},
	} {
		x := randn(rng, p.C*p.H*p.W, 1)
		x[p.W+1] = float32(math.NaN())
		oh, ow := p.OutH(), p.OutW()
		got, want := poisoned(p.C*oh*ow), poisoned(p.C*oh*ow)
		p.Forward(got, x)
		for c := range p.C {
			for r := range oh {
				for j := range ow {
					hs, ws := r*p.StrideH, j*p.StrideW
					want[(c*oh+r)*ow+j] = avgWindow(x[c*p.H*p.W:(c+1)*p.H*p.W], p.W, hs, hs+p.KH, ws, ws+p.KW, p.KH*p.KW)
				}
			}
		}
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%+v: element %d is %v, want %v", p, i, got[i], want[i])
			}
		}
	}
}
