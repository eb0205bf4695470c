package winograd

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// intCase is one convolution of the tests: its shape, the columns of
// output asked for (0: all), the input's bytes as int8 (flip 0x80).
type intCase struct {
	c    IntConv
	cols int
	flip byte
}

var intCases = []intCase{
	{c: IntConv{H: 16, W: 16, In: 32, Out: 64}}, // the seed's second convolution
	{c: IntConv{H: 4, W: 4, In: 64, Out: 128}},  // its third: one tile
	{c: IntConv{H: 14, W: 14, In: 16, Out: 16}, flip: 0x80},
	{c: IntConv{H: 13, W: 13, In: 16, Out: 32}, cols: 12},
	{c: IntConv{H: 5, W: 9, In: 48, Out: 16}},
	{c: IntConv{H: 1, W: 1, In: 16, Out: 16}, flip: 0x80},
	{c: IntConv{H: 28, W: 28, In: 16, Out: 48}, cols: 27},
	{c: IntConv{H: 8, W: 40, In: 16, Out: 16}},
	{c: IntConv{H: 6, W: 7, In: 32, Out: 32}, flip: 0x80}, // int16 lanes, signed
}

// intRef is the direct convolution: Σ (x - zx) w over the 3x3 window,
// the pixels outside the map counting as zx.
func intRef(c IntConv, x []byte, zx, flip byte, w []int32) []int32 {
	y := make([]int32, c.H*c.W*c.Out)
	for oy := range c.H {
		for ox := range c.W {
			for o := range c.Out {
				var s int32
				for i := range c.In {
					for ky := range 3 {
						for kx := range 3 {
							iy, ix := oy+ky-1, ox+kx-1
							if iy < 0 || iy >= c.H || ix < 0 || ix >= c.W {
								continue
							}
							s += (int32(x[(iy*c.W+ix)*c.In+i]^flip) - int32(zx^flip)) * w[((o*c.In+i)*3+ky)*3+kx]
						}
					}
				}
				y[(oy*c.W+ox)*c.Out+o] = s
			}
		}
	}
	return y
}

// intPad writes x, [H][W][In], into a padded image bordered by zx.
func intPad(c IntConv, x []byte, zx byte) []byte {
	pr, pc := c.Padded()
	img := make([]byte, pr*pc*c.In)
	for i := range img {
		img[i] = zx
	}
	for y := range c.H {
		copy(img[((y+1)*pc+1)*c.In:], x[y*c.W*c.In:(y+1)*c.W*c.In])
	}
	return img
}

// intPool is qgemm.MaxPool on the sums y, [H][W][Out], keeping the
// columns below cols: the maxima of k x k windows of stride k, of the
// minima for channels of order -1.
func intPool(c IntConv, y []int32, k, cols int, order []int32) []int32 {
	ph := c.H / k
	out := make([]int32, ph*cols*c.Out)
	for py := range ph {
		for px := range cols {
			for o := range c.Out {
				best := y[(py*k*c.W+px*k)*c.Out+o]
				for a := range k {
					for b := range k {
						v := y[((py*k+a)*c.W+px*k+b)*c.Out+o]
						if order != nil && order[o] == -1 {
							best = min(best, v)
						} else {
							best = max(best, v)
						}
					}
				}
				out[(py*cols+px)*c.Out+o] = best
			}
		}
	}
	return out
}

// intForward runs tile rows step at a time (all, for step 0) into an
// output filled with a marker, and checks nothing past it was written.
func intForward(t *testing.T, c IntConv, o IntOut, img []byte, zx, flip byte, u []int16, step int) []int32 {
	const marker = -0x1234567
	n := o.rows(c) * o.Ld
	o.Y = make([]int32, n+64)
	for i := range o.Y {
		o.Y[i] = marker
	}
	ty, _ := c.Tiles()
	if step == 0 {
		step = ty
	}
	s := c.NewScratch()
	for lo := 0; lo < ty; lo += step {
		c.ForwardTileRows(o, img, zx, flip, u, s, lo, min(ty, lo+step))
	}
	for i, v := range o.Y[n:] {
		if v != marker {
			t.Fatalf("%+v: wrote %d past the output", c, i)
		}
	}
	return o.Y[:n]
}

func TestIntForward(t *testing.T) {
	for n, tc := range intCases {
		c := tc.c
		rng := rand.New(rand.NewPCG(uint64(n), uint64(c.In*c.Out)))
		x := make([]byte, c.H*c.W*c.In)
		for i := range x {
			x[i] = byte(rng.IntN(256))
		}
		w := make([]int32, c.Out*c.In*9)
		for i := range w {
			w[i] = int32(rng.IntN(255)) - 127
		}
		zx := byte(rng.IntN(256))
		// The extremes: every byte 255 against zero point 0 and the
		// weights' signs alternating, the largest transformed values.
		xmax, wmax := make([]byte, len(x)), make([]int32, len(w))
		for i := range xmax {
			xmax[i] = 255
		}
		for i := range wmax {
			wmax[i] = []int32{127, -128}[i%9%2]
		}
		for _, in := range []struct {
			name string
			x    []byte
			zx   byte
			w    []int32
		}{{"random", x, zx, w}, {"extreme", xmax, 0, wmax}} {
			if in.name == "extreme" && tc.flip != 0 {
				in.zx = 0x80 // int8 -128
			}
			name := fmt.Sprintf("%+v cols %d flip %#x %s on %s", c, tc.cols, tc.flip, in.name, c.Kernel())
			u := make([]int16, c.WeightsSize())
			if err := c.IntWeights(u, in.w); err != nil {
				if in.name == "extreme" && errors.Is(err, ErrRange) && c.In*9*128*255 >= 1<<25 {
					continue // too many channels for the extremes
				}
				t.Fatalf("%s: %v", name, err)
			}
			want := intRef(c, in.x, in.zx, tc.flip, in.w)
			img := intPad(c, in.x, in.zx)
			order := make([]int32, c.Out)
			for i := range order {
				order[i] = -int32(rng.IntN(2))
			}
			for _, pool := range []int{0, 2, 4} {
				if pool > c.H || pool > c.W {
					continue
				}
				cols, ref := tc.cols, want
				if cols == 0 {
					cols = c.W
				}
				var ord []int32
				if pool > 0 {
					cols /= pool
					ord = order
					ref = intPool(c, want, pool, cols, ord)
				} else {
					ref = intPool(c, want, 1, cols, nil)
				}
				for _, step := range []int{0, 1} {
					y := intForward(t, c, IntOut{Ld: cols * c.Out, Cols: cols, Pool: pool, Order: ord}, img, in.zx, tc.flip, u, step)
					bad := 0
					for i := range ref {
						if y[i] != ref[i] {
							if bad++; bad <= 3 {
								t.Errorf("%s, pool %d, tile rows %d at a time: sum %d (pixel %d, channel %d) is %d, want %d",
									name, pool, step, i, i/c.Out, i%c.Out, y[i], ref[i])
							}
						}
					}
					if bad > 0 {
						t.Fatalf("%s, pool %d: %d sums wrong", name, pool, bad)
					}
				}
			}
		}
	}
}

// TestIntWeightsRange: weights whose transforms leave int16, or whose
// sums could reach 2^25, are refused.
func TestIntWeightsRange(t *testing.T) {
	c := IntConv{H: 4, W: 4, In: 16, Out: 16}
	u := make([]int16, c.WeightsSize())
	w := make([]int32, c.Out*c.In*9)
	for i := range w {
		w[i] = 255 // a uint8 weight less a zero point of 0: 144·255 > 32767
	}
	if err := c.IntWeights(u, w); !errors.Is(err, ErrRange) {
		t.Errorf("weights of 255: %v, want ErrRange", err)
	}
	big := IntConv{H: 4, W: 4, In: 2048, Out: 16}
	w = make([]int32, big.Out*big.In*9)
	for i := range w {
		w[i] = 100 // 255·100·9·2048 sums ≥ 2^25
	}
	if err := big.IntWeights(make([]int16, big.WeightsSize()), w); !errors.Is(err, ErrRange) {
		t.Errorf("2048 channels of weights 100: %v, want ErrRange", err)
	}
	for i := range w {
		w[i] = 1
	}
	if err := big.IntWeights(make([]int16, big.WeightsSize()), w); err != nil {
		t.Errorf("2048 channels of weights 1: %v", err)
	}
}

// BenchmarkIntForward times one image through the seed's second and
// third convolutions' shapes.
func BenchmarkIntForward(b *testing.B) {
	for _, c := range []IntConv{{H: 16, W: 16, In: 32, Out: 64}, {H: 4, W: 4, In: 64, Out: 128}, {H: 28, W: 28, In: 16, Out: 16}} {
		b.Run(fmt.Sprintf("%dx%d_%d_%d_%s", c.H, c.W, c.In, c.Out, c.Kernel()), func(b *testing.B) {
			pr, pc := c.Padded()
			img := make([]byte, pr*pc*c.In)
			w := make([]int32, c.Out*c.In*9)
			for i := range w {
				w[i] = int32(i%255) - 127
			}
			u := make([]int16, c.WeightsSize())
			if err := c.IntWeights(u, w); err != nil {
				b.Fatal(err)
			}
			y := make([]int32, c.H*c.W*c.Out)
			s := c.NewScratch()
			ty, _ := c.Tiles()
			for b.Loop() {
				c.ForwardTileRows(IntOut{Y: y, Ld: c.W * c.Out, Cols: c.W}, img, 0, 0, u, s, 0, ty)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e3, "µs/image")
		})
		const n = 64
		b.Run(fmt.Sprintf("%dx%d_%d_%d_%s_batch%d", c.H, c.W, c.In, c.Out, c.Kernel(), n), func(b *testing.B) {
			pr, pc := c.Padded()
			img := make([]byte, pr*pc*c.In)
			u := make([]int16, c.WeightsSize())
			y := make([]int32, c.H*c.W*c.Out)
			s := c.NewBatchScratch(n)
			out := func(int) IntOut { return IntOut{Y: y, Ld: c.W * c.Out, Cols: c.W} }
			for b.Loop() {
				c.ForwardImages(n, func(int) []byte { return img }, out, 0, 0, u, s)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n)/1e3, "µs/image")
		})
	}
}

// TestIntForwardImages: images batched give each image's sums alone,
// over passes of several images (the seed's third convolution, a map of
// one tile, and a map of several with pooling).
func TestIntForwardImages(t *testing.T) {
	for _, tc := range []struct {
		c    IntConv
		pool int
		n    int
	}{{IntConv{H: 4, W: 4, In: 64, Out: 128}, 2, 37}, {IntConv{H: 3, W: 3, In: 16, Out: 16}, 0, 9}, {IntConv{H: 9, W: 8, In: 32, Out: 64}, 4, 11}} {
		c := tc.c
		rng := rand.New(rand.NewPCG(uint64(c.In), uint64(tc.n)))
		w := make([]int32, c.Out*c.In*9)
		for i := range w {
			w[i] = int32(rng.IntN(255)) - 127
		}
		u := make([]int16, c.WeightsSize())
		if err := c.IntWeights(u, w); err != nil {
			t.Fatal(err)
		}
		order := make([]int32, c.Out)
		for i := range order {
			order[i] = -int32(rng.IntN(2))
		}
		cols, rows := c.W, c.H
		if tc.pool > 0 {
			cols, rows = c.W/tc.pool, c.H/tc.pool
		}
		imgs, want := make([][]byte, tc.n), make([][]int32, tc.n)
		got := make([][]int32, tc.n)
		const zx = 7
		for i := range tc.n {
			x := make([]byte, c.H*c.W*c.In)
			for j := range x {
				x[j] = byte(rng.IntN(256))
			}
			imgs[i] = intPad(c, x, zx)
			want[i] = intPool(c, intRef(c, x, zx, 0, w), max(tc.pool, 1), cols, order)
			got[i] = make([]int32, rows*cols*c.Out)
		}
		out := func(i int) IntOut {
			o := IntOut{Y: got[i], Ld: cols * c.Out, Cols: cols, Pool: tc.pool}
			if tc.pool > 0 {
				o.Order = order
			}
			return o
		}
		c.ForwardImages(tc.n, func(i int) []byte { return imgs[i] }, out, zx, 0, u, c.NewBatchScratch(tc.n))
		for i := range tc.n {
			if !slices.Equal(got[i], want[i]) {
				t.Fatalf("%+v pool %d on %s: image %d of %d differs from its sums alone", c, tc.pool, c.Kernel(), i, tc.n)
			}
		}
		t.Logf("%+v pool %d on %s: %d images in passes of %d", c, tc.pool, c.Kernel(), tc.n, c.batchImages())
	}
}

// TestIntForwardRandom: random shapes, zero points, pools, columns and
// passes against the direct sums, the extremes of the bytes included.
func TestIntForwardRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	trials := 40
	if testing.Short() {
		trials = 10
	}
	for trial := range trials {
		c := IntConv{H: 1 + rng.IntN(19), W: 1 + rng.IntN(19), In: 16 * (1 + rng.IntN(4)), Out: 16 * (1 + rng.IntN(4))}
		flip := byte(0)
		if rng.IntN(2) == 0 {
			flip = 0x80
		}
		x := make([]byte, c.H*c.W*c.In)
		for i := range x {
			x[i] = []byte{0, 255, byte(rng.IntN(256))}[rng.IntN(3)]
		}
		w := make([]int32, c.Out*c.In*9)
		for i := range w {
			w[i] = int32(rng.IntN(256)) - 128
		}
		u := make([]int16, c.WeightsSize())
		if err := c.IntWeights(u, w); err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		zx := byte(rng.IntN(256))
		pool := []int{0, 2, 4}[rng.IntN(3)]
		if pool > c.H || pool > c.W {
			pool = 0
		}
		width := c.W
		if pool > 0 {
			width = c.W / pool
		}
		cols := 1 + rng.IntN(width)
		var order []int32
		if pool > 0 {
			order = make([]int32, c.Out)
			for i := range order {
				order[i] = -int32(rng.IntN(2))
			}
		}
		want := intPool(c, intRef(c, x, zx, flip, w), max(pool, 1), cols, order)
		y := intForward(t, c, IntOut{Ld: cols * c.Out, Cols: cols, Pool: pool, Order: order}, intPad(c, x, zx), zx, flip, u, rng.IntN(3))
		if !slices.Equal(y, want) {
			t.Fatalf("trial %d: %+v flip %#x zx %d pool %d cols %d on %s: sums differ from the direct ones", trial, c, flip, zx, pool, cols, c.Kernel())
		}
	}
}
