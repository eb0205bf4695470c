package kernel

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// convVariants returns every way the package can run a direct convolution:
// each kernel set with each of its tiles alone, and the pure-Go kernel.
func convVariants() []*kernelSet {
	var out []*kernelSet
	for _, ks := range kernelSets() {
		if len(ks.convs) == 0 {
			out = append(out, ks)
		}
		for _, t := range ks.convs {
			one := *ks
			one.name = fmt.Sprintf("%s/%dx%dx%d", ks.name, t.rows, t.r, t.cols)
			if t.cin > 0 {
				one.name += fmt.Sprintf("-c%dw%d", t.cin, t.w)
			}
			one.convs = []convTile{t}
			out = append(out, &one)
		}
	}
	return out
}

var convCases = []Conv3x3{
	{H: 32, W: 32, In: 1, Out: 32},
	{H: 16, W: 16, In: 32, Out: 64},
	{H: 4, W: 4, In: 64, Out: 128},
	{H: 5, W: 8, In: 6, Out: 32},  // an odd height
	{H: 3, W: 8, In: 16, Out: 48}, // channels a multiple of 16 but not 32
	{H: 4, W: 6, In: 3, Out: 5},   // nothing the assembly handles
	{H: 6, W: 16, In: 8, Out: 16}, // an input gradient to 8 channels (AVX-512's pair tiles)
	{H: 3, W: 12, In: 16, Out: 8}, // 8 channels, a width 4 divides but not 8
	// 14-wide maps, which the fixed-width tiles of 7 and 14 pixels take
	// (cnn28's conv2 and its input gradient, Keras's conv2) in one or
	// more blocks of channels.
	{H: 5, W: 14, In: 16, Out: 32},
	{H: 4, W: 14, In: 16, Out: 64},
	{H: 3, W: 14, In: 32, Out: 48},
	{H: 4, W: 14, In: 8, Out: 16},
	{H: 3, W: 14, In: 16, Out: 8}, // Keras's conv2's input gradient (the 7-pixel pair tile)
	{H: 2, W: 28, In: 8, Out: 8},  // 8 channels, a width 7 and 4 divide but not 8
}

func TestConvMatchesPlain(t *testing.T) {
	// The float64 references, each case's once: every variant draws the
	// same inputs (the seed is the case's), and the three references of
	// the larger cases took most of the test's time when each variant
	// computed them again.
	type refs struct{ y, dx, dw []float64 }
	computed := map[int]refs{}
	for _, ks := range convVariants() {
		for ci, c := range convCases {
			t.Run(fmt.Sprintf("%s/%dx%dx%d-%d", ks.name, c.H, c.W, c.In, c.Out), func(t *testing.T) {
				using(t, ks)
				const n = 3
				rng := rand.New(rand.NewPCG(uint64(c.In), uint64(c.Out)))
				x := randn(rng, n*c.H*c.W*c.In, 1)
				w, bias := randn(rng, c.Out*c.In*9, 0.3), randn(rng, c.Out, 1)
				dy := randn(rng, n*c.H*c.W*c.Out, 1)
				x64, w64, dy64 := to64(x), to64(w), to64(dy)
				ref, ok := computed[ci]
				if !ok {
					ref = refs{refConv(x64, w64, to64(bias), n, c.H, c.W, c.In, c.Out), refConvInputGrad(w64, dy64, n, c.H, c.W, c.In, c.Out),
						refConvWeightGrad(x64, dy64, n, c.H, c.W, c.In, c.Out)}
					computed[ci] = ref
				}

				wd := make([]float32, len(w))
				c.DirectWeights(wd, w)
				back := make([]float32, len(w))
				c.UndirectWeights(back, wd)
				checkClose(t, "undirected weights", back, w64, 0)

				xp := make([]float32, n*c.PaddedSize(c.In))
				for i := range xp {
					xp[i] = 7 // Pad must write every value
				}
				c.Pad(xp, x, n, c.In)
				want := ref.y
				y := make([]float32, len(want))
				c.Forward(y, xp, wd, bias, n)
				checkClose(t, "Forward", y, want, 1e-5)
				// The rows in two halves, as two CPUs split an image.
				clear(y)
				c.ForwardRows(y, xp, wd, bias, n, 0, c.H/2)
				c.ForwardRows(y, xp, wd, bias, n, c.H/2, c.H)
				checkClose(t, "ForwardRows", y, want, 1e-5)

				wf := make([]float32, len(w))
				c.FlippedWeights(wf, w)
				dx := make([]float32, len(x))
				c.BackwardInput(dx, dy, wf, make([]float32, c.ScratchSize(n)), n)
				checkClose(t, "BackwardInput", dx, ref.dx, 1e-5)

				dwd := randn(rng, len(w), 1) // BackwardWeights adds to it
				from := make([]float32, len(w))
				c.UndirectWeights(from, dwd)
				c.BackwardWeights(dwd, dy, xp, n)
				got := make([]float32, len(w))
				c.UndirectWeights(got, dwd)
				wantDW := slices.Clone(ref.dw)
				for i := range wantDW {
					wantDW[i] += float64(from[i])
				}
				checkClose(t, "BackwardWeights", got, wantDW, 1e-5)
			})
		}
	}
}

// BenchmarkConv times LeNet's two larger convolutions, and Keras's second
// (its input gradient to 8 channels) and cnn28's second, each on its
// 14-wide map and widened to 16 as it ran before a tile divided 14, on
// eight images, forward and backward, and reports GFLOP/s (of the map it
// runs: compare the two widths by time).
func BenchmarkConv(b *testing.B) {
	const n = 8
	for _, c := range append(convCases[1:3:3], Conv3x3{H: 14, W: 14, In: 8, Out: 16}, Conv3x3{H: 14, W: 16, In: 8, Out: 16},
		Conv3x3{H: 14, W: 14, In: 16, Out: 32}, Conv3x3{H: 14, W: 16, In: 16, Out: 32}) {
		rng := rand.New(rand.NewPCG(1, 2))
		x := randn(rng, n*c.H*c.W*c.In, 1)
		w, bias := randn(rng, c.Out*c.In*9, 0.3), randn(rng, c.Out, 1)
		dy := randn(rng, n*c.H*c.W*c.Out, 1)
		y := make([]float32, len(dy))
		dx := make([]float32, len(x))
		xp := make([]float32, n*c.PaddedSize(c.In))
		scratch := make([]float32, c.ScratchSize(n))
		wd, wf := make([]float32, len(w)), make([]float32, len(w))
		c.DirectWeights(wd, w)
		c.FlippedWeights(wf, w)
		flops := float64(2 * n * c.H * c.W * c.Out * c.K())
		for _, bc := range []struct {
			name string
			run  func()
		}{
			{"forward", func() {
				c.Pad(xp, x, n, c.In)
				c.Forward(y, xp, wd, bias, n)
			}},
			{"dx", func() { c.BackwardInput(dx, dy, wf, scratch, n) }},
			{"dw", func() { c.BackwardWeights(wd, dy, xp, n) }},
		} {
			b.Run(fmt.Sprintf("%dx%dx%d-%d/%s", c.H, c.W, c.In, c.Out, bc.name), func(b *testing.B) {
				for b.Loop() {
					bc.run()
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// TestNarrowChannelsFallBack: with the CPU's own choice of kernels, a
// convolution to 8 channels (AVX-512's 16 lanes do not divide them,
// AVX2's 8 do) and its pooling give the plain results, and Vectorized
// says whether assembly ran them.
func TestNarrowChannelsFallBack(t *testing.T) {
	for _, c := range []Conv3x3{{H: 8, W: 8, In: 1, Out: 8}, {H: 4, W: 8, In: 8, Out: 8}} {
		const n = 2
		rng := rand.New(rand.NewPCG(3, uint64(c.In)))
		x := randn(rng, n*c.H*c.W*c.In, 1)
		w, bias := randn(rng, c.Out*c.In*9, 0.3), randn(rng, c.Out, 1)
		wd := make([]float32, len(w))
		c.DirectWeights(wd, w)
		xp := make([]float32, n*c.PaddedSize(c.In))
		c.Pad(xp, x, n, c.In)
		want := refConv(to64(x), to64(w), to64(bias), n, c.H, c.W, c.In, c.Out)
		y := make([]float32, len(want))
		c.Forward(y, xp, wd, bias, n)
		checkClose(t, fmt.Sprintf("%+v (vectorized %v)", c, c.Vectorized()), y, want, 1e-5)
		if len(asmKernels) > 0 && c.In == 1 && !c.Vectorized() {
			t.Errorf("%+v: not vectorized on a CPU with %s kernels", c, asmKernels[len(asmKernels)-1].name)
		}
	}
}

// TestFourteenWideVectorized: on AVX-512, the 14-wide maps of cnn28's and
// Keras's second convolutions, and their input gradients (Keras's to 8
// channels, on the 7-pixel pair tile), run on a tile of their own width
// rather than in Go (their callers would otherwise run them widened to 16).
func TestFourteenWideVectorized(t *testing.T) {
	if len(asmKernels) == 0 || asmKernels[0].name != "avx512" {
		t.Skip("no AVX-512")
	}
	for _, tc := range []struct {
		c    Conv3x3
		back bool // BackwardInputVectorized
	}{
		{Conv3x3{H: 14, W: 14, In: 16, Out: 32}, true}, // cnn28's conv2
		{Conv3x3{H: 14, W: 14, In: 32, Out: 16}, true}, // its input gradient
		{Conv3x3{H: 14, W: 14, In: 8, Out: 16}, true},  // Keras's conv2
	} {
		c := tc.c
		if !c.Vectorized() {
			t.Errorf("%+v: not vectorized", c)
		}
		if tile := directTile(c.H, c.W, c.In, c.Out, 1); tile == nil || tile.w != c.W {
			t.Errorf("%+v: tile %+v, want one for width %d", c, tile, c.W)
		}
		if got := c.BackwardInputVectorized(); got != tc.back {
			t.Errorf("%+v: BackwardInputVectorized %v, want %v", c, got, tc.back)
		}
	}
}
