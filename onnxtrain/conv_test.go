package onnxtrain

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lenetkit/lenetkit/onnx"
)

// TestConvGradient checks Conv's backward pass, im2col and depthwise
// paths, against central differences of sum(dy * y), over strides,
// paddings, dilations and groups.
func TestConvGradient(t *testing.T) {
	for _, tc := range []struct {
		name  string
		x, w  []int
		attrs onnx.Attrs
	}{
		{"plain 3x3", []int{2, 2, 6, 5}, []int{3, 2, 3, 3}, attrs(map[string][]int64{"pads": {1, 1, 1, 1}})},
		{"stride 2, asymmetric pads", []int{2, 1, 7, 6}, []int{2, 1, 3, 2}, attrs(map[string][]int64{"strides": {2, 2}, "pads": {1, 0, 0, 1}})},
		{"dilation 2", []int{1, 2, 7, 7}, []int{2, 2, 3, 3}, attrs(map[string][]int64{"dilations": {2, 2}})},
		{"groups of 2", []int{2, 4, 5, 5}, []int{4, 2, 3, 3}, attrs(map[string][]int64{"group": {2}, "pads": {1, 1, 1, 1}})},
		{"depthwise", []int{2, 3, 6, 6}, []int{3, 1, 3, 3}, attrs(map[string][]int64{"group": {3}, "pads": {1, 1, 1, 1}})},
		{"depthwise stride 2 multiplier 2", []int{2, 2, 7, 6}, []int{4, 1, 3, 3}, attrs(map[string][]int64{"group": {2}, "strides": {2, 2}, "pads": {1, 1, 1, 1}})},
		{"depthwise dilated", []int{1, 2, 7, 7}, []int{2, 1, 3, 3}, attrs(map[string][]int64{"group": {2}, "dilations": {2, 2}, "pads": {2, 2, 2, 2}})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := &onnx.Node{OpType: "Conv", Attrs: tc.attrs}
			b := &builder{net: &Net{}}
			in := []*value{{shape: tc.x}, {shape: tc.w}, {shape: []int{tc.w[0]}}}
			l, shape, err := buildConv(b, n, in)
			if err != nil {
				t.Fatal(err)
			}
			checkLayerGradient(t, l, [][]int{tc.x, tc.w, {tc.w[0]}}, shape)
		})
	}
}

func attrs(ints map[string][]int64) onnx.Attrs {
	a := onnx.Attrs{}
	for k, v := range ints {
		if k == "group" {
			a[k] = onnx.Attr{Int: v[0], Type: onnx.AttributeProto_INT}
		} else {
			a[k] = onnx.Attr{Ints: v, Type: onnx.AttributeProto_INTS}
		}
	}
	return a
}

// checkLayerGradient compares a layer's backward pass for every input with
// central differences of sum(dy * y) on random inputs.
func checkLayerGradient(t *testing.T, l layer, shapes [][]int, out []int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	xs := make([][]float32, len(shapes))
	dx := make([][]float32, len(shapes))
	for i, s := range shapes {
		xs[i] = make([]float32, size(s))
		for j := range xs[i] {
			xs[i][j] = rng.Float32()*2 - 1
		}
		dx[i] = make([]float32, size(s))
	}
	y, dy := make([]float32, size(out)), make([]float32, size(out))
	for j := range dy {
		dy[j] = rng.Float32()*2 - 1
	}
	objective := func() float64 {
		l.forward(y, xs)
		var s float64
		for j := range y {
			s += float64(y[j]) * float64(dy[j])
		}
		return s
	}
	objective()
	l.backward(dx, dy, y, xs)
	for i, x := range xs {
		for j := range x {
			const h = 1e-2
			old := x[j]
			x[j] = old + h
			up := objective()
			x[j] = old - h
			down := objective()
			x[j] = old
			if fd := (up - down) / (2 * h); math.Abs(float64(dx[i][j])-fd) > 2e-3*(1+math.Abs(fd)) {
				t.Fatalf("input %d [%d]: gradient %g, finite difference %g", i, j, dx[i][j], fd)
			}
		}
	}
}
