package poolk

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestReluMax: the dispatched kernels give, bit for bit, the largest of
// +0 and each window's pixels that are not NaN, over widths around the
// vectors' edges, row steps wider than the windows and values drawn from
// specials: both zeros, both infinities, NaNs of both signs.
func TestReluMax(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	pool := []float32{0, negZ, 1, -1, 2, nan, negNaN, inf, -inf, 1e-40, -1e-40}
	for _, k := range []int{2, 3} {
		pooler := map[int]func(y, x []float32, w, step, oh, ow int){2: ReluMax2x2, 3: ReluMax3x3}[k]
		for _, oh := range []int{1, 2, 3, 14} {
			for ow := 1; ow <= 20; ow++ {
				for _, extra := range []int{0, 1, 3} {
					for _, step := range []int{k, k + 1} { // in rows
						for _, special := range []int{0, 4, 64} { // one pixel in that many
							w := k*ow + extra
							x := make([]float32, ((oh-1)*step+k)*w)
							for i := range x {
								x[i] = rng.Float32()*4 - 2
								if special > 0 && rng.IntN(special) == 0 {
									x[i] = pool[rng.IntN(len(pool))]
								}
							}
							y := make([]float32, oh*ow)
							for i := range y {
								y[i] = 7 // every output must be written
							}
							pooler(y, x, w, step*w, oh, ow)
							for oy := range oh {
								for ox := range ow {
									want := float32(0)
									for r := range k {
										at := oy*step*w + r*w + k*ox
										for _, v := range x[at : at+k] {
											if v > want {
												want = v
											}
										}
									}
									if got := y[oy*ow+ox]; math.Float32bits(got) != math.Float32bits(want) {
										t.Fatalf("ReluMax%dx%d (%s) %dx%d, width %d, step %d rows, [%d][%d]: %g (%#x), want %g (%#x)",
											k, k, Kernel(), oh, ow, w, step, oy, ox, got, math.Float32bits(got), want, math.Float32bits(want))
									}
								}
							}
						}
					}
				}
			}
		}
	}
}

// TestReluMaxNHWC: ReluMax2x2NHWC gives, bit for bit, what TestReluMax
// asks of the planes' pool, channel by channel, for channel counts on and
// off the vectors' width and rows wider than the windows.
func TestReluMaxNHWC(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	pool := []float32{0, negZ, 1, -1, 2, nan, negNaN, inf, -inf, 1e-40, -1e-40}
	for _, c := range []int{1, 5, 8, 16, 24} {
		for _, oh := range []int{1, 3, 14} {
			for _, ow := range []int{1, 2, 7, 14} {
				for _, extra := range []int{0, 1} { // pixels past the last window
					for _, special := range []int{0, 4, 64} {
						w := (2*ow + extra) * c
						x := make([]float32, 2*oh*w)
						for i := range x {
							x[i] = rng.Float32()*4 - 2
							if special > 0 && rng.IntN(special) == 0 {
								x[i] = pool[rng.IntN(len(pool))]
							}
						}
						y := make([]float32, oh*ow*c)
						for i := range y {
							y[i] = 7
						}
						ReluMax2x2NHWC(y, x, c, w, oh, ow)
						for oy := range oh {
							for ox := range ow {
								for j := range c {
									want := float32(0)
									for _, at := range []int{0, c, w, w + c} {
										if v := x[2*oy*w+2*ox*c+at+j]; v > want {
											want = v
										}
									}
									if got := y[(oy*ow+ox)*c+j]; math.Float32bits(got) != math.Float32bits(want) {
										t.Fatalf("ReluMax2x2NHWC (%s), %d channels, %dx%d, row %d floats, [%d][%d][%d]: %g (%#x), want %g (%#x)",
											Kernel(), c, oh, ow, w, oy, ox, j, got, math.Float32bits(got), want, math.Float32bits(want))
									}
								}
							}
						}
					}
				}
			}
		}
	}
}

// BenchmarkReluMax2x2 pools the first layer's planes of the CNTK MNIST
// model: 28x28 outputs of a convolution, in rows 32 wide, to 14x14.
func BenchmarkReluMax2x2(b *testing.B) { benchReluMax(b, 2, 32, 14, 14, ReluMax2x2) }

// BenchmarkReluMax3x3 pools the second layer's planes of the CNTK MNIST
// model: 14x14 outputs of a convolution, in rows 18 wide, to 4x4.
func BenchmarkReluMax3x3(b *testing.B) { benchReluMax(b, 3, 18, 4, 4, ReluMax3x3) }

// benchReluMax times pool, of k x k windows at stride k, over a plane of
// random values in rows w wide, to oh x ow.
func benchReluMax(b *testing.B, k, w, oh, ow int, pool func(y, x []float32, w, step, oh, ow int)) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, k*oh*w)
	for i := range x {
		x[i] = rng.Float32()*2 - 1
	}
	y := make([]float32, oh*ow)
	b.SetBytes(int64(4 * k * k * oh * ow))
	for b.Loop() {
		pool(y, x, w, k*w, oh, ow)
	}
}
