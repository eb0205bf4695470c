package winograd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lenetkit/lenetkit/internal/kernel"
)

// refConv is the convolution in float64, and beside it each output's
// magnitude, the sum of its terms' absolute values, which bounds the
// rounding of any order of summing them.
func refConv(c Conv, x, w, bias []float32, e Epilogue) (y, mag []float64) {
	res, relu := e.Res, e.Relu
	y, mag = make([]float64, c.H*c.W*c.Out), make([]float64, c.H*c.W*c.Out)
	for oy := range c.H {
		for ox := range c.W {
			for o := range c.Out {
				s, a := float64(bias[o]), math.Abs(float64(bias[o]))
				for ky := range 3 {
					for kx := range 3 {
						iy, ix := oy+ky-1, ox+kx-1
						if iy < 0 || iy >= c.H || ix < 0 || ix >= c.W {
							continue
						}
						for i := range c.In {
							t := float64(x[(iy*c.W+ix)*c.In+i]) * float64(w[((o*c.In+i)*3+ky)*3+kx])
							s, a = s+t, a+math.Abs(t)
						}
					}
				}
				at := (oy*c.W+ox)*c.Out + o
				if res != nil {
					s, a = s+float64(res[at]), a+math.Abs(float64(res[at]))
				}
				if relu {
					s = max(s, 0)
				}
				if e.Scale != nil {
					s, a = s*float64(e.Scale[o])+float64(e.Shift[o]), a*math.Abs(float64(e.Scale[o]))+math.Abs(float64(e.Shift[o]))
				}
				y[at], mag[at] = s, a
			}
		}
	}
	if e.Pool > 0 {
		return pool(c, e.Pool, y), pool(c, e.Pool, mag)
	}
	return y, mag
}

// pool takes the maxima of y's k x k windows.
func pool(c Conv, k int, y []float64) []float64 {
	h, w := c.H/k, c.W/k
	out := make([]float64, h*w*c.Out)
	for py := range h {
		for px := range w {
			for o := range c.Out {
				m := math.Inf(-1)
				for dy := range k {
					for dx := range k {
						m = max(m, y[((k*py+dy)*c.W+k*px+dx)*c.Out+o])
					}
				}
				out[(py*w+px)*c.Out+o] = m
			}
		}
	}
	return out
}

func randn(rng *rand.Rand, n int, scale float64) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64() * scale)
	}
	return s
}

var convCases = []Conv{
	{H: 28, W: 28, In: 16, Out: 16}, // a ResNet's first block
	{H: 14, W: 14, In: 32, Out: 32}, // its second
	{H: 14, W: 14, In: 16, Out: 32},
	{H: 7, W: 7, In: 8, Out: 8},
	{H: 5, W: 9, In: 8, Out: 16},
	{H: 1, W: 1, In: 16, Out: 8},
	{H: 4, W: 4, In: 16, Out: 16},
	{H: 13, W: 11, In: 24, Out: 40},
	{H: 9, W: 30, In: 64, Out: 16},  // a row of eight tiles
	{H: 16, W: 16, In: 32, Out: 64}, // the seed's second block
	{H: 4, W: 4, In: 64, Out: 128},  // and its third: one tile
	{H: 5, W: 8, In: 16, Out: 64},   // rows of two tiles
	{H: 12, W: 96, In: 32, Out: 32}, // a pass a tile row
}

// forward runs c on x through Forward, with the scratch space and the
// output full of NaN, so that a value read before it is written shows,
// and a guard past the output that must stay as it was.
func forward(c Conv, x, w, bias []float32, e Epilogue) ([]float32, error) {
	xp := make([]float32, c.PaddedSize())
	c.Pad(xp, x)
	u := make([]float32, c.WeightsSize())
	c.Weights(u, w)
	const guard = 64
	y := make([]float32, c.OutSize(e)+guard)
	scratch := make([]float32, c.ScratchSize())
	for i := range y {
		y[i] = float32(math.NaN())
	}
	for i := range scratch {
		scratch[i] = float32(math.NaN())
	}
	for i := len(y) - guard; i < len(y); i++ {
		y[i] = 7
	}
	c.Forward(y, xp, u, bias, e, scratch)
	for _, g := range y[len(y)-guard:] {
		if g != 7 {
			return nil, fmt.Errorf("wrote past the output")
		}
	}
	return y[:len(y)-guard], nil
}

func TestForward(t *testing.T) {
	for _, c := range convCases {
		rng := rand.New(rand.NewPCG(uint64(c.H), uint64(c.In*c.Out)))
		x, w, bias := randn(rng, c.H*c.W*c.In, 1), randn(rng, 9*c.In*c.Out, 0.3), randn(rng, c.Out, 0.5)
		res, scale, shift := randn(rng, c.H*c.W*c.Out, 1), randn(rng, c.Out, 1), randn(rng, c.Out, 1)
		epilogues := []Epilogue{{}, {Relu: true}, {Res: res}, {Res: res, Relu: true}}
		for _, k := range []int{2, 4} {
			if c.H >= k && c.W >= k {
				epilogues = append(epilogues, Epilogue{Relu: true, Pool: k}, Epilogue{Pool: k},
					Epilogue{Relu: true, Scale: scale, Shift: shift, Pool: k})
			}
		}
		for _, e := range epilogues {
			name := fmt.Sprintf("%+v residual %v relu %v scale %v pool %d on %s", c, e.Res != nil, e.Relu, e.Scale != nil, e.Pool, c.Kernel())
			y, err := forward(c, x, w, bias, e)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			want, mag := refConv(c, x, w, bias, e)
			worst, at := 0.0, 0
			for i := range want {
				if e := math.Abs(float64(y[i])-want[i]) / mag[i]; !(e <= worst) {
					worst, at = e, i
				}
			}
			t.Logf("%s: worst error %.2g of the magnitude", name, worst)
			// F(4x4, 3x3) rounds more than a direct sum (its constants
			// reach 8 and 1/24); a wrong transform is off by the size of
			// the values.
			if worst > 2e-5 {
				t.Errorf("%s: output %d is %v, want %v (error %.2g of its magnitude %.3g)", name, at, y[at], want[at], worst, mag[at])
			}
		}
	}
}

// TestTileRows: the tile rows computed in parts, as CPUs share an image,
// give Forward's bits.
func TestTileRows(t *testing.T) {
	for _, c := range convCases {
		rng := rand.New(rand.NewPCG(1, uint64(c.W)))
		x, w, bias := randn(rng, c.H*c.W*c.In, 1), randn(rng, 9*c.In*c.Out, 0.3), randn(rng, c.Out, 0.5)
		whole, err := forward(c, x, w, bias, Epilogue{Relu: true})
		if err != nil {
			t.Fatal(err)
		}
		xp, u := make([]float32, c.PaddedSize()), make([]float32, c.WeightsSize())
		c.Pad(xp, x)
		c.Weights(u, w)
		y, scratch := make([]float32, len(whole)), make([]float32, c.ScratchSize())
		ty, _ := c.Tiles()
		for r := ty - 1; r >= 0; r-- {
			c.ForwardTileRows(y, xp, u, bias, Epilogue{Relu: true}, scratch, r, r+1)
		}
		for i := range y {
			if math.Float32bits(y[i]) != math.Float32bits(whole[i]) {
				t.Fatalf("%+v: output %d is %v by tile rows, %v whole", c, i, y[i], whole[i])
			}
		}
	}
}

func TestFits(t *testing.T) {
	for _, tc := range []struct {
		c    Conv
		fits bool
	}{
		{Conv{H: 28, W: 28, In: 16, Out: 16}, true},
		{Conv{H: 28, W: 28, In: 1, Out: 16}, false},
		{Conv{H: 28, W: 28, In: 16, Out: 10}, false},
		{Conv{H: 0, W: 28, In: 16, Out: 16}, false},
	} {
		if got := tc.c.Fits(); got != tc.fits {
			t.Errorf("%+v: Fits %v, want %v", tc.c, got, tc.fits)
		}
	}
}

// BenchmarkForward times one image through the transforms beside the
// direct kernel that runs the same convolution otherwise
// (kernel.Conv3x3, at the core's multiply-add rate) where it runs in
// assembly, on a ResNet's and cnn28's shapes and the seed's second, with
// the ratio of their times. On an AMD EPYC (Zen 4), AVX-512: 2.18, 1.97,
// 1.86 and 2.82 times the direct kernel's speed; AVX2 (GODEBUG
// cpu.avx512f=off): 1.8 to 2.3 where its tiles run, over two runs.
func BenchmarkForward(b *testing.B) {
	cases := append(convCases[:3:3], Conv{H: 16, W: 16, In: 32, Out: 64})
	for _, c := range cases {
		rng := rand.New(rand.NewPCG(1, 2))
		x, w, bias := randn(rng, c.H*c.W*c.In, 1), randn(rng, 9*c.In*c.Out, 0.3), randn(rng, c.Out, 0.5)
		xp, u := make([]float32, c.PaddedSize()), make([]float32, c.WeightsSize())
		c.Pad(xp, x)
		c.Weights(u, w)
		y, scratch := make([]float32, c.H*c.W*c.Out), make([]float32, c.ScratchSize())
		direct := kernel.Conv3x3{H: c.H, W: c.W, In: c.In, Out: c.Out}
		dxp, wd := make([]float32, direct.PaddedSize(c.In)), make([]float32, len(w))
		direct.Pad(dxp, x, 1, c.In)
		direct.DirectWeights(wd, w)
		var directNs float64
		if direct.Vectorized() { // else Go's loops: a map no AVX2 tile divides (14 wide)
			b.Run(fmt.Sprintf("%dx%dx%d-%d/direct-%s", c.H, c.W, c.In, c.Out, kernel.KernelName()), func(b *testing.B) {
				for range b.N {
					direct.Forward(y, dxp, wd, bias, 1)
				}
				directNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
				b.ReportMetric(directNs/1e3, "us/image")
			})
		}
		b.Run(fmt.Sprintf("%dx%dx%d-%d/winograd-%s", c.H, c.W, c.In, c.Out, c.Kernel()), func(b *testing.B) {
			for range b.N {
				c.Forward(y, xp, u, bias, Epilogue{}, scratch)
			}
			ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(ns/1e3, "us/image")
			if directNs > 0 {
				b.ReportMetric(directNs/ns, "x-direct")
			}
		})
	}
}

// TestNaN: a NaN in the input makes NaN every output whose 3x3 window
// holds it, as a direct convolution does, and may spread to the rest of
// the tiles whose 6x6 inputs hold it, no further.
func TestNaN(t *testing.T) {
	c := Conv{H: 12, W: 12, In: 8, Out: 8}
	rng := rand.New(rand.NewPCG(5, 6))
	x, w, bias := randn(rng, c.H*c.W*c.In, 1), randn(rng, 9*c.In*c.Out, 0.3), randn(rng, c.Out, 0.5)
	const ny, nx = 5, 6 // tile (1, 1) holds it, and its 6x6 inputs of tiles (1, 1) and (1, 2)
	x[(ny*c.W+nx)*c.In+3] = float32(math.NaN())
	y, err := forward(c, x, w, bias, Epilogue{})
	if err != nil {
		t.Fatal(err)
	}
	for oy := range c.H {
		for ox := range c.W {
			v := y[(oy*c.W+ox)*c.Out]
			window := abs(oy-ny) <= 1 && abs(ox-nx) <= 1
			// Tile (ty, tx) reads input rows 4ty-1 .. 4ty+4.
			patch := func(o, n int) bool { return n >= 4*(o/4)-1 && n <= 4*(o/4)+4 }
			if window && !math.IsNaN(float64(v)) {
				t.Errorf("output (%d, %d) is %v, want NaN", oy, ox, v)
			}
			if !patch(oy, ny) || !patch(ox, nx) {
				if math.IsNaN(float64(v)) {
					t.Errorf("output (%d, %d) is NaN: its tile does not read the input's NaN", oy, ox)
				}
			}
		}
	}
}

func abs(x int) int { return max(x, -x) }
