package kernel

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// stridedCase is a 3x3 convolution of padding 1 at stride 1 (Conv3x3) or
// 2 (Conv3x3S2) on an H x W input.
type stridedCase struct {
	stride        int
	H, W, In, Out int
}

var stridedCases = []stridedCase{
	{2, 28, 28, 16, 32}, // resnet_tiny's second stage: 14x14, the 7-pixel tiles
	{2, 14, 14, 32, 32}, // 7x7
	{2, 9, 27, 16, 32},  // odd sizes to 5x14
	{2, 16, 16, 8, 16},  // 8x8: the tiles of 8 and 4 pixels, one row and two
	{2, 12, 16, 8, 32},  // 6x8, 32 channels
	{2, 8, 7, 16, 64},   // 4x4, 64 channels (AVX-512's tile of four vectors)
	{2, 13, 15, 16, 16}, // odd sizes to an odd height, 7x8
	{2, 15, 17, 8, 32},  // 8x9: no tile's width
	{2, 7, 8, 32, 8},    // 4x4 to 8 channels (AVX-512's pair tiles)
	{2, 6, 13, 8, 8},    // 3x7 to 8 channels
	{2, 5, 16, 16, 8},   // 3x8 to 8 channels
	{2, 9, 9, 1, 8},     // one input channel: the Go kernel
	{2, 1, 1, 8, 16},    // one pixel
	{1, 7, 9, 8, 16},    // stride 1, odd sizes
	{1, 6, 8, 16, 32},
	{1, 14, 14, 16, 32}, // where the stride-2 tiles of 7 are not picked
}

// refConvStrided is refConv at stride s: out (h-1)/s+1 x (wd-1)/s+1.
func refConvStrided(x, w, bias []float64, n, h, wd, in, out, s int) []float64 {
	oh, ow := (h-1)/s+1, (wd-1)/s+1
	y := make([]float64, n*oh*ow*out)
	for img := range n {
		for py := range oh {
			for px := range ow {
				for o := range out {
					sum := bias[o]
					for i := range in {
						for ky := range 3 {
							for kx := range 3 {
								sy, sx := s*py+ky-1, s*px+kx-1
								if sy < 0 || sy >= h || sx < 0 || sx >= wd {
									continue
								}
								sum += x[((img*h+sy)*wd+sx)*in+i] * w[((o*in+i)*3+ky)*3+kx]
							}
						}
					}
					y[((img*oh+py)*ow+px)*out+o] = sum
				}
			}
		}
	}
	return y
}

// forwardStrided runs tc's convolution with Forward, or with ForwardRows
// on rows lo..mid-1 and mid..hi-1 when split.
func forwardStrided(tc stridedCase, y, x, w, bias []float32, n int, split bool) {
	rows := func(fwd func(lo, hi int), oh int) {
		if !split {
			fwd(0, oh)
			return
		}
		fwd(0, oh/2)
		fwd(oh/2, oh)
	}
	if tc.stride == 1 {
		c := Conv3x3{H: tc.H, W: tc.W, In: tc.In, Out: tc.Out}
		xp, wd := make([]float32, n*c.PaddedSize(c.In)), make([]float32, len(w))
		c.Pad(xp, x, n, c.In)
		c.DirectWeights(wd, w)
		rows(func(lo, hi int) { c.ForwardRows(y, xp, wd, bias, n, lo, hi) }, c.H)
		return
	}
	c := Conv3x3S2{H: tc.H, W: tc.W, In: tc.In, Out: tc.Out}
	xp, wd := make([]float32, n*c.PaddedSize()), make([]float32, len(w))
	for i := range xp {
		xp[i] = 7 // Pad must write every value
	}
	c.Pad(xp, x, n)
	c.DirectWeights(wd, w)
	rows(func(lo, hi int) { c.ForwardRows(y, xp, wd, bias, n, lo, hi) }, c.OutH())
}

func TestStridedConvMatchesPlain(t *testing.T) {
	for _, ks := range convVariants() {
		for _, tc := range stridedCases {
			t.Run(fmt.Sprintf("%s/s%d-%dx%dx%d-%d", ks.name, tc.stride, tc.H, tc.W, tc.In, tc.Out), func(t *testing.T) {
				using(t, ks)
				const n = 2
				rng := rand.New(rand.NewPCG(uint64(tc.H), uint64(tc.W)))
				x := randn(rng, n*tc.H*tc.W*tc.In, 1)
				w, bias := randn(rng, tc.Out*tc.In*9, 0.3), randn(rng, tc.Out, 1)
				want := refConvStrided(to64(x), to64(w), to64(bias), n, tc.H, tc.W, tc.In, tc.Out, tc.stride)
				for _, split := range []bool{false, true} {
					y, all := guarded(len(want), func([]float32) {})
					forwardStrided(tc, y, x, w, bias, n, split)
					name := fmt.Sprintf("Forward (rows split %v)", split)
					checkGuards(t, name, all)
					checkClose(t, name, y, want, 1e-5)
				}
			})
		}
	}
}

// TestStridedTilesServed: every assembly tile that may run at stride 2
// takes one of stridedCases, so that TestStridedConvMatchesPlain checks
// it there; and resnet_tiny's stride-2 convolution is vectorized.
func TestStridedTilesServed(t *testing.T) {
	for _, ks := range convVariants() {
		if len(ks.convs) != 1 || ks.convs[0].cin > 0 {
			continue // the Go kernels, or a tile of stride 1 alone
		}
		t.Run(ks.name, func(t *testing.T) {
			using(t, ks)
			for _, tc := range stridedCases {
				c := Conv3x3S2{H: tc.H, W: tc.W, In: tc.In, Out: tc.Out}
				if tc.stride == 2 && directTile(c.OutH(), c.OutW(), c.In, c.Out, 2) == &ks.convs[0] {
					return
				}
			}
			t.Errorf("no stride-2 case runs on %s", ks.name)
		})
	}
	if len(asmKernels) > 0 && !(Conv3x3S2{H: 28, W: 28, In: 16, Out: 32}).Vectorized() {
		t.Errorf("resnet_tiny's 16 to 32 channels on 28x28 is not vectorized on %s", asmKernels[0].name)
	}
}

// BenchmarkConvS2 times resnet_tiny's stride-2 convolution (28x28, 16 to
// 32 channels) on one image, padding included as a plan runs it, and
// reports GFLOP/s: beside BenchmarkConv's figures, what striding costs.
func BenchmarkConvS2(b *testing.B) {
	c := Conv3x3S2{H: 28, W: 28, In: 16, Out: 32}
	rng := rand.New(rand.NewPCG(1, 2))
	x := randn(rng, c.H*c.W*c.In, 1)
	w, bias := randn(rng, c.Out*c.In*9, 0.3), randn(rng, c.Out, 1)
	wd, xp := make([]float32, len(w)), make([]float32, c.PaddedSize())
	c.DirectWeights(wd, w)
	y := make([]float32, c.OutH()*c.OutW()*c.Out)
	for b.Loop() {
		c.Pad(xp, x, 1)
		c.Forward(y, xp, wd, bias, 1)
	}
	flops := float64(2 * c.OutH() * c.OutW() * c.Out * 9 * c.In)
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
