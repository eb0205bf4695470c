package nchw

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

func TestBroadcastShape(t *testing.T) {
	tests := []struct {
		a, b, want []int
		err        bool
	}{
		{[]int{2, 3, 4}, []int{2, 3, 4}, []int{2, 3, 4}, false},
		{[]int{2, 3, 4}, []int{1}, []int{2, 3, 4}, false},
		{[]int{2, 3, 4}, []int{}, []int{2, 3, 4}, false},
		{[]int{}, []int{}, []int{}, false},
		{[]int{3, 1, 1}, []int{3, 4, 5}, []int{3, 4, 5}, false},
		{[]int{5, 7}, []int{7}, []int{5, 7}, false},
		{[]int{7}, []int{5, 7}, []int{5, 7}, false},
		{[]int{5, 1}, []int{1, 7}, []int{5, 7}, false},
		{[]int{1, 7}, []int{5, 1}, []int{5, 7}, false},
		{[]int{2, 1, 4}, []int{3, 1}, []int{2, 3, 4}, false},
		{[]int{0, 3}, []int{1, 3}, []int{0, 3}, false},
		{[]int{3, 4}, []int{4, 3}, nil, true},
		{[]int{2, 3}, []int{3, 3}, nil, true},
		{[]int{0}, []int{2}, nil, true},
		{[]int{-1}, []int{1}, nil, true},
	}
	for _, tt := range tests {
		got, err := BroadcastShape(tt.a, tt.b)
		if tt.err {
			if err == nil {
				t.Errorf("BroadcastShape(%v, %v) = %v, want an error", tt.a, tt.b, got)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("BroadcastShape(%v, %v) = %v, %v, want %v", tt.a, tt.b, got, err, tt.want)
		}
	}
}

// refBinary computes a op b with broadcasting by turning every output
// index into an index of each operand.
func refBinary(op BinaryOp, a []float64, aShape []int, b []float64, bShape []int, yShape []int) []float64 {
	total := 1
	for _, d := range yShape {
		total *= d
	}
	y := make([]float64, total)
	idx := make([]int, len(yShape))
	for i := range total {
		rem := i
		for d := len(yShape) - 1; d >= 0; d-- {
			idx[d] = rem % yShape[d]
			rem /= yShape[d]
		}
		av, bv := a[flat(idx, aShape)], b[flat(idx, bShape)]
		switch op {
		case Add:
			y[i] = av + bv
		case Sub:
			y[i] = av - bv
		case Mul:
			y[i] = av * bv
		case Div:
			y[i] = av / bv
		}
	}
	return y
}

// flat is the offset in a row-major array of shape of the element that
// the (right-aligned, broadcast) output index idx reads.
func flat(idx, shape []int) int {
	off := len(idx) - len(shape)
	o := 0
	for d, n := range shape {
		i := idx[off+d]
		if n == 1 {
			i = 0
		}
		o = o*n + i
	}
	return o
}

func TestBinary(t *testing.T) {
	pairs := []struct{ a, b []int }{
		{[]int{2, 3, 4}, []int{2, 3, 4}},
		{[]int{2, 3, 4}, []int{1}},
		{[]int{1}, []int{2, 3, 4}},
		{[]int{2, 3, 4}, []int{}},
		{[]int{3, 4, 5}, []int{3, 1, 1}},
		{[]int{3, 1, 1}, []int{3, 4, 5}},
		{[]int{2, 3, 4, 5}, []int{1, 3, 1, 1}},
		{[]int{6, 1, 1}, []int{6, 1, 1}}, // [C,1,1] with 1x1 maps
		{[]int{5, 7}, []int{7}},
		{[]int{7}, []int{5, 7}},
		{[]int{5, 1}, []int{1, 7}},
		{[]int{1, 7}, []int{5, 1}},
		{[]int{2, 3, 4, 5}, []int{1, 3, 1, 5}},
		{[]int{2, 1, 4}, []int{3, 1}},
		{[]int{2, 3, 1, 5, 2, 3}, []int{3, 1, 5, 1, 1}},
		{[]int{1}, []int{1}},
		{[]int{1, 1}, []int{1, 1, 1}},
		{[]int{}, []int{}},
		{[]int{0, 3}, []int{3}},
		{[]int{4, 3}, []int{0, 1, 3}},
	}
	rng := newRand()
	for _, p := range pairs {
		yShape, err := BroadcastShape(p.a, p.b)
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range []BinaryOp{Add, Sub, Mul, Div} {
			t.Run(fmt.Sprintf("%v-%v/op%d", p.a, p.b, op), func(t *testing.T) {
				a, b := randn(rng, size(p.a), 1), randn(rng, size(p.b), 1)
				// Keep divisors away from 0, so that the relative error
				// bound holds for Div.
				for i, v := range b {
					b[i] = float32(math.Copysign(0.5+math.Abs(float64(v)), float64(v)))
				}
				want := refBinary(op, wide(a), p.a, wide(b), p.b, yShape)
				y := poisoned(size(yShape))
				Binary(op, y, a, p.a, b, p.b, yShape)
				checkClose(t, y, want)
				// In place, into whichever operand has the output's size.
				switch {
				case slices.Equal(p.a, yShape):
					Binary(op, a, a, p.a, b, p.b, yShape)
					checkClose(t, a, want)
				case slices.Equal(p.b, yShape):
					Binary(op, b, a, p.a, b, p.b, yShape)
					checkClose(t, b, want)
				}
			})
		}
	}
}

// size is the number of elements of an array of the given shape.
func size(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}
