package onnxtrain

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lenetkit/lenetkit/onnx"
)

// convCases are convolutions that take each of im2col's paths: at stride
// 1 one span a tap (output as wide as the input, or narrower, with gaps
// between rows), else row by row; strided, dilated and grouped.
var convCases = []struct {
	name  string
	x, w  []int
	attrs onnx.Attrs
}{
	{"same 3x3, flat", []int{5, 2, 6, 5}, []int{3, 2, 3, 3}, attrs(map[string][]int64{"pads": {1, 1, 1, 1}})},
	{"asymmetric same, flat", []int{4, 1, 5, 4}, []int{2, 1, 2, 3}, attrs(map[string][]int64{"pads": {0, 2, 1, 0}})},
	{"valid 5x5, gaps", []int{5, 2, 9, 8}, []int{3, 2, 5, 5}, nil},
	{"padded, gaps", []int{3, 2, 6, 7}, []int{2, 2, 3, 3}, attrs(map[string][]int64{"pads": {1, 1, 0, 0}})},
	{"dilated, gaps", []int{3, 1, 7, 8}, []int{2, 1, 3, 2}, attrs(map[string][]int64{"dilations": {2, 3}, "pads": {0, 1, 1, 0}})},
	{"stride 2", []int{4, 1, 7, 6}, []int{2, 1, 3, 2}, attrs(map[string][]int64{"strides": {2, 2}, "pads": {1, 0, 0, 1}})},
	{"dilated and flat", []int{4, 2, 7, 7}, []int{2, 2, 3, 3}, attrs(map[string][]int64{"dilations": {2, 2}, "pads": {2, 2, 2, 2}})},
	{"groups of 2", []int{5, 4, 5, 5}, []int{4, 2, 3, 3}, attrs(map[string][]int64{"group": {2}, "pads": {1, 1, 1, 1}})},
	{"pads wider than the kernel", []int{3, 1, 3, 3}, []int{2, 1, 2, 2}, attrs(map[string][]int64{"pads": {3, 3, 3, 3}})},
}

// withChunk makes c take chunks of b images, its scratch sized to match.
func withChunk(c *conv, b int) {
	if c.shift != nil {
		c.shift.setChunk(c, b)
		return
	}
	c.chunk = b
	for i := range c.scratch {
		c.scratch[i] = make([]float32, b*(c.c/c.group*c.kh*c.kw+c.m/c.group)*c.pw)
	}
}

func buildTestConv(t *testing.T, x, w []int, a onnx.Attrs) (*conv, []int) {
	t.Helper()
	in := []*value{{shape: x}, {shape: w}, {shape: []int{w[0]}}}
	l, shape, err := buildConv(&builder{net: &Net{}}, &onnx.Node{OpType: "Conv", Attrs: a}, in)
	if err != nil {
		t.Fatal(err)
	}
	return l.(*conv), shape
}

// TestConvChunksForward compares the forward pass, one image and several
// per product, with a direct convolution.
func TestConvChunksForward(t *testing.T) {
	for _, tc := range convCases {
		for _, b := range []int{1, 2, 3} {
			c, shape := buildTestConv(t, tc.x, tc.w, tc.attrs)
			withChunk(c, b)
			rng := rand.New(rand.NewPCG(5, 6))
			in := [][]float32{randoms(rng, size(tc.x)), randoms(rng, size(tc.w)), randoms(rng, tc.w[0])}
			got := make([]float32, size(shape))
			for j := range got {
				got[j] = float32(math.NaN()) // every output must be written
			}
			c.forward(got, in)
			want := directConv(c, in)
			for j := range want {
				if math.Abs(float64(got[j]-want[j])) > 1e-5 {
					t.Fatalf("%s, chunk %d: y[%d] = %g, want %g", tc.name, b, j, got[j], want[j])
				}
			}
		}
	}
}

// TestConvChunksGradient checks the backward pass with several images per
// product against central differences.
func TestConvChunksGradient(t *testing.T) {
	for _, tc := range convCases {
		t.Run(tc.name, func(t *testing.T) {
			c, shape := buildTestConv(t, tc.x, tc.w, tc.attrs)
			withChunk(c, 3)
			checkLayerGradient(t, c, [][]int{tc.x, tc.w, {tc.w[0]}}, shape)
		})
	}
}

// TestConvChunkBounds checks that a worker's scratch stays within the
// budget unless one image alone needs more, and that a chunk never exceeds
// a worker's share of the batch.
func TestConvChunkBounds(t *testing.T) {
	for _, tc := range []struct{ rows, p, share, want int }{
		{9 + 16, 196, 64, 6},     // narrow images: enough for colsTarget columns
		{25 + 6, 784, 64, 2},     // wide images
		{144 + 32, 196, 64, 2},   // the budget binds before the target
		{16 + 512, 196, 64, 1},   // many outputs: their rows count too
		{144 + 32, 196, 1, 1},    // a batch of one
		{4608 + 512, 196, 64, 1}, // one image over the budget still runs
	} {
		got := chunkImages(tc.rows, tc.p, tc.share)
		if got != tc.want {
			t.Errorf("chunkImages(%d, %d, %d) = %d, want %d", tc.rows, tc.p, tc.share, got, tc.want)
		}
		if got > 1 && got*tc.rows*tc.p > colsBudget {
			t.Errorf("chunkImages(%d, %d, %d) = %d: %d floats of scratch", tc.rows, tc.p, tc.share, got, got*tc.rows*tc.p)
		}
	}
}

func randoms(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for j := range s {
		s[j] = rng.Float32()*2 - 1
	}
	return s
}

// directConv is the convolution's definition, loop by loop.
func directConv(c *conv, in [][]float32) []float32 {
	x, w, b := in[0], in[1], in[2]
	cg, mg := c.c/c.group, c.m/c.group
	y := make([]float32, c.n*c.m*c.oh*c.ow)
	for i := range c.n {
		for o := range c.m {
			g := o / mg
			for oy := range c.oh {
				for ox := range c.ow {
					s := float64(b[o])
					for ch := range cg {
						for ki := range c.kh {
							for kj := range c.kw {
								iy, ix := oy*c.sh-c.padT+ki*c.dh, ox*c.sw-c.padL+kj*c.dw
								if iy < 0 || iy >= c.h || ix < 0 || ix >= c.w {
									continue
								}
								s += float64(x[((i*c.c+g*cg+ch)*c.h+iy)*c.w+ix]) * float64(w[((o*cg+ch)*c.kh+ki)*c.kw+kj])
							}
						}
					}
					y[((i*c.m+o)*c.oh+oy)*c.ow+ox] = float32(s)
				}
			}
		}
	}
	return y
}
