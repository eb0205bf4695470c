package nchw

import (
	"fmt"
	"math"
	"testing"
)

// refReduce is Reduce's definition in float64, one element at a time.
func refReduce(op ReduceOp, x []float32, shape []int, reduce []bool) []float64 {
	var outShape []int
	count := 1
	for k, d := range shape {
		if reduce[k] {
			count *= d
		} else {
			outShape = append(outShape, d)
		}
	}
	out := make([]float64, refLen(outShape))
	for i := range out {
		switch op {
		case ReduceMax:
			out[i] = math.Inf(-1)
		case ReduceMin:
			out[i] = math.Inf(1)
		}
	}
	idx := make([]int, len(shape))
	for _, v := range x {
		o := 0
		for k, d := range shape {
			if !reduce[k] {
				o = o*d + idx[k]
			}
		}
		switch op {
		case ReduceMax:
			out[o] = math.Max(out[o], float64(v))
		case ReduceMin:
			out[o] = math.Min(out[o], float64(v))
		default:
			out[o] += float64(v)
		}
		for k := len(idx) - 1; k >= 0; k-- {
			idx[k]++
			if idx[k] < shape[k] {
				break
			}
			idx[k] = 0
		}
	}
	if op == ReduceMean {
		for i := range out {
			out[i] /= float64(count)
		}
	}
	return out
}

func TestReduce(t *testing.T) {
	rng := newRand()
	cases := []struct {
		shape  []int
		reduce []bool
	}{
		{[]int{1, 3, 4, 5}, []bool{false, false, true, true}},
		{[]int{1, 3, 4, 5}, []bool{false, true, false, false}},
		{[]int{2, 3, 4, 5}, []bool{true, false, true, false}},
		{[]int{2, 3, 4, 5}, []bool{false, true, false, true}},
		{[]int{2, 3, 4, 5}, []bool{true, true, true, true}},
		{[]int{2, 3, 4, 5}, []bool{false, false, false, false}},
		{[]int{3, 1, 2}, []bool{true, true, false}},
		{[]int{7}, []bool{true}},
		{[]int{}, []bool{}},
	}
	for _, op := range []ReduceOp{ReduceSum, ReduceMean, ReduceMax, ReduceMin} {
		for _, tc := range cases {
			t.Run(fmt.Sprint(op, tc.shape, tc.reduce), func(t *testing.T) {
				x := randn(rng, refLen(tc.shape), 1)
				want := refReduce(op, x, tc.shape, tc.reduce)
				y := poisoned(len(want))
				Reduce(op, y, x, tc.shape, tc.reduce)
				checkClose(t, y, want)
			})
		}
	}
}

func TestReduceInts(t *testing.T) {
	x := []int64{1, 5, 3, 4, 2, 6}
	y := make([]int64, 2)
	Reduce(ReduceMax, y, x, []int{2, 3}, []bool{false, true})
	if y[0] != 5 || y[1] != 6 {
		t.Errorf("max: %v", y)
	}
	Reduce(ReduceSum, y, x, []int{2, 3}, []bool{false, true})
	if y[0] != 9 || y[1] != 12 {
		t.Errorf("sum: %v", y)
	}
	Reduce(ReduceMin, y, x, []int{2, 3}, []bool{false, true})
	if y[0] != 1 || y[1] != 2 {
		t.Errorf("min: %v", y)
	}
}
