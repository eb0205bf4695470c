package nchw

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// refStrided is Strided's definition, one element at a time.
func refStrided(x []float32, shape []int, off int, strides []int) []float64 {
	n := 1
	for _, d := range shape {
		n *= d
	}
	out := make([]float64, n)
	idx := make([]int, len(shape))
	for i := range out {
		p := off
		for k, v := range idx {
			p += v * strides[k]
		}
		out[i] = float64(x[p])
		for k := len(idx) - 1; k >= 0; k-- {
			idx[k]++
			if idx[k] < shape[k] {
				break
			}
			idx[k] = 0
		}
	}
	return out
}

func TestTranspose(t *testing.T) {
	rng := newRand()
	cases := []struct{ shape, perm []int }{
		{[]int{1, 3, 5, 7}, []int{0, 2, 3, 1}},
		{[]int{1, 5, 7, 3}, []int{0, 3, 1, 2}},
		{[]int{2, 17, 33, 19}, []int{0, 2, 3, 1}},
		{[]int{2, 33, 19, 17}, []int{0, 3, 1, 2}},
		{[]int{2, 3, 4}, []int{2, 0, 1}},
		{[]int{2, 3, 4}, []int{1, 0, 2}},
		{[]int{2, 3, 4}, []int{0, 1, 2}},
		{[]int{6, 1, 5}, []int{2, 1, 0}},
		{[]int{40, 37}, []int{1, 0}},
		{[]int{2, 3, 1, 4, 5}, []int{4, 2, 0, 3, 1}},
		{[]int{}, []int{}},
		{[]int{7}, []int{0}},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.shape, tc.perm), func(t *testing.T) {
			n := 1
			for _, d := range tc.shape {
				n *= d
			}
			x := randn(rng, n, 1)
			in := RowMajor(tc.shape)
			out := make([]int, len(tc.perm))
			st := make([]int, len(tc.perm))
			for k, p := range tc.perm {
				out[k], st[k] = tc.shape[p], in[p]
			}
			y := poisoned(n)
			Transpose(y, x, tc.shape, tc.perm)
			checkClose(t, y, refStrided(x, out, 0, st))
		})
	}
}

func TestStridedCopy(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	x := randn(rng, 4*5*6, 1)
	cases := []struct {
		shape   []int
		off     int
		strides []int
	}{
		{[]int{2, 3, 4}, 0, []int{30, 6, 1}},      // a slice of whole rows
		{[]int{2, 3, 2}, 7, []int{30, 6, 2}},      // steps
		{[]int{4, 5, 6}, 119, []int{-30, -6, -1}}, // reversed
		{[]int{3, 4, 6}, 0, []int{0, 6, 1}},       // broadcast
		{[]int{3, 4, 6}, 5, []int{6, 0, 0}},       // broadcast of a column
		{[]int{5, 2}, 3, []int{6, 0}},
	}
	for _, tc := range cases {
		y := poisoned(refLen(tc.shape))
		CopyStrided(y, x, NewStrided(tc.shape, tc.off, tc.strides))
		checkClose(t, y, refStrided(x, tc.shape, tc.off, tc.strides))
	}
}

func refLen(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

func BenchmarkTransposeNCHWToNHWC(b *testing.B) {
	shape := []int{1, 32, 28, 28}
	x := randn(newRand(), refLen(shape), 1)
	y := make([]float32, len(x))
	s := TransposeStrided(shape, []int{0, 2, 3, 1})
	b.SetBytes(int64(8 * len(x)))
	for b.Loop() {
		CopyStrided(y, x, s)
	}
}
