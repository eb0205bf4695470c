package onnxtrain

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lenetkit/lenetkit/onnx"
)

// dwNaive is the depthwise convolution and its gradients as the definition
// reads, one output and tap at a time with the padding tested per tap.
func dwNaive(c *conv, x, w, dy []float32) (y, dx, dw []float32) {
	mg, taps := c.m/c.group, c.kh*c.kw
	y, dx, dw = make([]float32, c.n*c.m*c.oh*c.ow), make([]float32, len(x)), make([]float32, len(w))
	for i := range c.n {
		for o := range c.m {
			ci := o / mg
			for oy := range c.oh {
				for ox := range c.ow {
					at := ((i*c.m+o)*c.oh+oy)*c.ow + ox
					for ki := range c.kh {
						for kj := range c.kw {
							iy, ix := oy*c.sh-c.padT+ki*c.dh, ox*c.sw-c.padL+kj*c.dw
							if iy < 0 || iy >= c.h || ix < 0 || ix >= c.w {
								continue
							}
							xi, wi := ((i*c.c+ci)*c.h+iy)*c.w+ix, o*taps+ki*c.kw+kj
							y[at] += w[wi] * x[xi]
							dx[xi] += w[wi] * dy[at]
							dw[wi] += x[xi] * dy[at]
						}
					}
				}
			}
		}
	}
	return y, dx, dw
}

// TestDepthwiseMatchesDefinition compares the padded-plane kernels with
// dwNaive over the geometries whose borders differ: asymmetric and
// oversized pads, strides, dilations, channel multipliers, windows wider
// than the input, and planes wide enough for the vector loops' tails.
func TestDepthwiseMatchesDefinition(t *testing.T) {
	for _, tc := range []struct {
		name  string
		x, w  []int
		attrs map[string][]int64
	}{
		{"3x3 pad 1", []int{2, 3, 28, 28}, []int{3, 1, 3, 3}, map[string][]int64{"pads": {1, 1, 1, 1}}},
		{"3x3 no pad odd width", []int{1, 2, 9, 37}, []int{2, 1, 3, 3}, nil},
		{"5x5 pad 2 multiplier 3", []int{2, 2, 11, 13}, []int{6, 1, 5, 5}, map[string][]int64{"pads": {2, 2, 2, 2}}},
		{"asymmetric pads", []int{1, 2, 7, 10}, []int{2, 1, 3, 2}, map[string][]int64{"pads": {0, 2, 1, 0}}},
		{"pads past the window", []int{1, 2, 5, 6}, []int{2, 1, 3, 3}, map[string][]int64{"pads": {3, 4, 2, 3}}},
		{"dilation 2", []int{2, 2, 12, 17}, []int{2, 1, 3, 3}, map[string][]int64{"dilations": {2, 2}, "pads": {2, 2, 2, 2}}},
		{"stride 2", []int{2, 2, 14, 15}, []int{2, 1, 3, 3}, map[string][]int64{"strides": {2, 2}, "pads": {1, 1, 1, 1}}},
		{"stride 2 by 1 dilated", []int{1, 2, 13, 12}, []int{4, 1, 3, 3}, map[string][]int64{"strides": {2, 1}, "dilations": {1, 2}, "pads": {1, 0, 2, 3}}},
		{"stride 3 uncovered edge", []int{1, 2, 10, 11}, []int{2, 1, 2, 2}, map[string][]int64{"strides": {3, 3}}},
		{"1x1", []int{1, 3, 4, 70}, []int{3, 1, 1, 1}, nil},
		{"1x1 stride 2", []int{1, 2, 9, 40}, []int{2, 1, 1, 1}, map[string][]int64{"strides": {2, 2}}},
		{"stride 2 wide rows", []int{2, 2, 33, 70}, []int{4, 1, 3, 3}, map[string][]int64{"strides": {2, 2}, "pads": {1, 1, 1, 1}}},
		{"5x5 stride 2 dilation 2", []int{1, 2, 19, 21}, []int{2, 1, 5, 5}, map[string][]int64{"strides": {2, 2}, "dilations": {2, 2}, "pads": {4, 3, 4, 2}}},
		{"7x7 stride 3 more taps than the stack holds", []int{1, 2, 20, 23}, []int{2, 1, 7, 7}, map[string][]int64{"strides": {3, 3}, "pads": {3, 3, 3, 3}}},
		{"stride 2 pads past the window", []int{1, 2, 5, 6}, []int{2, 1, 3, 3}, map[string][]int64{"strides": {2, 2}, "pads": {3, 4, 2, 3}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := attrs(tc.attrs)
			a["group"] = onnx.Attr{Int: int64(tc.x[1]), Type: onnx.AttributeProto_INT}
			l, shape, err := buildConv(&builder{net: &Net{}}, &onnx.Node{OpType: "Conv", Attrs: a}, []*value{{shape: tc.x}, {shape: tc.w}})
			if err != nil {
				t.Fatal(err)
			}
			c := l.(*conv)
			if !c.depthwise() {
				t.Fatal("not run as a depthwise convolution")
			}
			rng := rand.New(rand.NewPCG(5, 6))
			fill := func(n int) []float32 {
				v := make([]float32, n)
				for j := range v {
					v[j] = rng.Float32()*2 - 1
				}
				return v
			}
			x, w, dy := fill(size(tc.x)), fill(size(tc.w)), fill(size(shape))
			wantY, wantDX, wantDW := dwNaive(c, x, w, dy)
			y := make([]float32, size(shape))
			dx := [][]float32{fill(len(x)), make([]float32, len(w))} // dx starts dirty: backward must overwrite it
			c.forward(y, [][]float32{x, w})
			c.backward(dx, dy, y, [][]float32{x, w})
			for _, r := range []struct {
				what      string
				got, want []float32
			}{{"y", y, wantY}, {"dx", dx[0], wantDX}, {"dw", dx[1], wantDW}} {
				for j := range r.want {
					if d := math.Abs(float64(r.got[j] - r.want[j])); d > 1e-4*(1+math.Abs(float64(r.want[j]))) {
						t.Fatalf("%s[%d] = %g, want %g", r.what, j, r.got[j], r.want[j])
					}
				}
			}
		})
	}
}
