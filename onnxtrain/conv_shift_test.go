package onnxtrain

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/lenetkit/lenetkit/onnx"
)

// shiftCases run on convShift: kernel sizes 1, 3 and 5, pads none, even,
// asymmetric and up to the kernel's size less one, channel counts that are
// not multiples of the Shifted tile's rows (on both sides: output
// channels for the forward pass, input channels for dX), and flat outputs
// whose width is not a multiple of the tile's.
var shiftCases = []struct {
	name  string
	x, w  []int
	attrs onnx.Attrs
}{
	{"1x1", []int{3, 5, 4, 7}, []int{9, 5, 1, 1}, nil},
	{"3x3 same", []int{3, 3, 6, 5}, []int{17, 3, 3, 3}, attrs(map[string][]int64{"pads": {1, 1, 1, 1}})},
	{"3x3 valid, one channel in", []int{4, 1, 7, 9}, []int{6, 1, 3, 3}, nil},
	{"5x5 pad 2", []int{2, 2, 8, 8}, []int{5, 2, 5, 5}, attrs(map[string][]int64{"pads": {2, 2, 2, 2}})},
	{"5x5 valid, lenet5's second", []int{3, 6, 14, 14}, []int{16, 6, 5, 5}, nil},
	{"5x3 asymmetric pads", []int{3, 9, 6, 11}, []int{4, 9, 5, 3}, attrs(map[string][]int64{"pads": {4, 0, 1, 2}})},
	{"3x3 full pads, rows without gaps", []int{2, 3, 5, 6}, []int{4, 3, 3, 3}, attrs(map[string][]int64{"pads": {2, 2, 2, 2}})},
	{"3x3 left pad only", []int{2, 2, 6, 5}, []int{3, 2, 3, 3}, attrs(map[string][]int64{"pads": {0, 2, 1, 0}})},
	{"1x1, taps a whole panel (dB apart)", []int{2, 32, 3, 3}, []int{9, 32, 1, 1}, nil},
	{"wide rows", []int{2, 2, 3, 45}, []int{3, 2, 3, 3}, attrs(map[string][]int64{"pads": {0, 1, 2, 1}})},
}

// TestConvShiftPath checks which convolutions take convShift: stride 1,
// no dilation, one group, pads within the kernel.
func TestConvShiftPath(t *testing.T) {
	for _, tc := range convCases {
		c, _ := buildTestConv(t, tc.x, tc.w, tc.attrs)
		want := c.sh == 1 && c.sw == 1 && c.dh == 1 && c.dw == 1 && c.group == 1 && c.padT < c.kh && c.padL < c.kw && c.padB < c.kh && c.padR < c.kw
		if got := c.shift != nil; got != want {
			t.Errorf("%s: on convShift %v, want %v", tc.name, got, want)
		}
	}
	for _, tc := range shiftCases {
		if c, _ := buildTestConv(t, tc.x, tc.w, tc.attrs); c.shift == nil {
			t.Errorf("%s: not on convShift", tc.name)
		}
	}
}

// TestConvShiftMatchesDirect compares the forward pass, dX, dW and dB with
// their definitions, over chunks of one and several images for dW.
func TestConvShiftMatchesDirect(t *testing.T) {
	for _, tc := range shiftCases {
		for _, chunk := range []int{1, 2} {
			c, shape := buildTestConv(t, tc.x, tc.w, tc.attrs)
			c.shift.setChunk(c, chunk)
			rng := rand.New(rand.NewPCG(9, 10))
			in := [][]float32{randoms(rng, size(tc.x)), randoms(rng, size(tc.w)), randoms(rng, tc.w[0])}
			dy := randoms(rng, size(shape))
			y := nans(size(shape))
			c.forward(y, in)
			shiftClose(t, tc.name+": y", y, directConv(c, in))
			dx := [][]float32{nans(size(tc.x)), nans(size(tc.w)), nans(tc.w[0])}
			c.backward(dx, dy, y, in)
			wantX, wantW, wantB := directConvGrad(c, in, dy)
			shiftClose(t, tc.name+": dx", dx[0], wantX)
			shiftClose(t, tc.name+": dw", dx[1], wantW)
			shiftClose(t, tc.name+": db", dx[2], wantB)
		}
	}
}

// TestConvShiftGradient checks the new path's backward pass against
// central differences, also when only some inputs want a gradient.
func TestConvShiftGradient(t *testing.T) {
	for _, tc := range shiftCases[:4] {
		t.Run(tc.name, func(t *testing.T) {
			c, shape := buildTestConv(t, tc.x, tc.w, tc.attrs)
			checkLayerGradient(t, c, [][]int{tc.x, tc.w, {tc.w[0]}}, shape)
		})
	}
	// One gradient at a time, dX on the Shifted product (three input
	// channels) and on col2im (one).
	for _, tc := range shiftCases[1:3] {
		c, shape := buildTestConv(t, tc.x, tc.w, tc.attrs)
		rng := rand.New(rand.NewPCG(11, 12))
		in := [][]float32{randoms(rng, size(tc.x)), randoms(rng, size(tc.w)), randoms(rng, tc.w[0])}
		dy := randoms(rng, size(shape))
		wantX, wantW, wantB := directConvGrad(c, in, dy)
		for _, keep := range []int{0, 1, 2} {
			dx := [][]float32{nil, nil, nil}
			dx[keep] = nans(len(in[keep]))
			c.backward(dx, dy, nil, in)
			shiftClose(t, tc.name+", only one gradient", dx[keep], [][]float32{wantX, wantW, wantB}[keep])
		}
	}
}

func nans(n int) []float32 {
	v := make([]float32, n)
	for j := range v {
		v[j] = float32(math.NaN()) // every element must be written
	}
	return v
}

func shiftClose(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for j := range want {
		if !(math.Abs(float64(got[j]-want[j])) <= 1e-4*(1+math.Abs(float64(want[j])))) {
			t.Fatalf("%s[%d] = %g, want %g", what, j, got[j], want[j])
		}
	}
}

// directConvGrad is the gradients' definition for one group, loop by loop.
func directConvGrad(c *conv, in [][]float32, dy []float32) (dx, dw, db []float32) {
	x, w := in[0], in[1]
	gx, gw, gb := make([]float64, len(x)), make([]float64, len(w)), make([]float64, c.m)
	for i := range c.n {
		for o := range c.m {
			for oy := range c.oh {
				for ox := range c.ow {
					d := float64(dy[((i*c.m+o)*c.oh+oy)*c.ow+ox])
					gb[o] += d
					for ch := range c.c {
						for ki := range c.kh {
							for kj := range c.kw {
								iy, ix := oy-c.padT+ki, ox-c.padL+kj
								if iy < 0 || iy >= c.h || ix < 0 || ix >= c.w {
									continue
								}
								xi, wi := ((i*c.c+ch)*c.h+iy)*c.w+ix, ((o*c.c+ch)*c.kh+ki)*c.kw+kj
								gx[xi] += d * float64(w[wi])
								gw[wi] += d * float64(x[xi])
							}
						}
					}
				}
			}
		}
	}
	f := func(v []float64) []float32 {
		r := make([]float32, len(v))
		for j, s := range v {
			r[j] = float32(s)
		}
		return r
	}
	return f(gx), f(gw), f(gb)
}

// BenchmarkConvShift times LeNet-5's and cnn28's convolutions, batch 128,
// as their training steps run them (a first convolution without dX, its
// input being the graph's), on convShift and on the im2col path. It
// reports the fastest forward and backward pass apart.
func BenchmarkConvShift(b *testing.B) {
	pad1 := attrs(map[string][]int64{"pads": {1, 1, 1, 1}})
	for _, bc := range []struct {
		name  string
		x, w  []int
		attrs onnx.Attrs
		dx    bool
	}{
		{"lenet5 conv1", []int{128, 1, 32, 32}, []int{6, 1, 5, 5}, nil, false},
		{"lenet5 conv2", []int{128, 6, 14, 14}, []int{16, 6, 5, 5}, nil, true},
		{"cnn28 conv1", []int{128, 1, 28, 28}, []int{16, 1, 3, 3}, pad1, false},
		{"cnn28 conv2", []int{128, 16, 14, 14}, []int{32, 16, 3, 3}, pad1, true},
	} {
		for _, path := range []string{"shift", "im2col"} {
			b.Run(bc.name+" "+path, func(b *testing.B) {
				c, shape := buildTestConv(&testing.T{}, bc.x, bc.w, bc.attrs)
				if path == "im2col" {
					c.dropShift()
				}
				rng := rand.New(rand.NewPCG(13, 14))
				in := [][]float32{randoms(rng, size(bc.x)), randoms(rng, size(bc.w)), randoms(rng, bc.w[0])}
				y, dy := make([]float32, size(shape)), randoms(rng, size(shape))
				dx := [][]float32{nil, make([]float32, size(bc.w)), make([]float32, bc.w[0])}
				if bc.dx {
					dx[0] = make([]float32, size(bc.x))
				}
				var fwd, bwd minTime
				for range b.N {
					t0 := time.Now()
					c.forward(y, in)
					t1 := time.Now()
					c.backward(dx, dy, y, in)
					fwd.add(t1.Sub(t0))
					bwd.add(time.Since(t1))
				}
				b.ReportMetric(float64(fwd.d), "fwd-min-ns")
				b.ReportMetric(float64(bwd.d), "bwd-min-ns")
			})
		}
	}
}
