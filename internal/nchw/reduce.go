package nchw

import "math"

// ReduceOp is the reduction that Reduce applies.
type ReduceOp int

// The reductions of ONNX's ReduceSum, ReduceMean, ReduceMax and
// ReduceMin.
const (
	ReduceSum ReduceOp = iota
	ReduceMean
	ReduceMax
	ReduceMin
)

// Number is what Reduce reduces: floats at run time, integers too when
// shape arithmetic is folded at load.
type Number interface{ ~float32 | ~int64 }

// Reduce reduces x of shape along the axes marked in reduce (one flag per
// dimension) into y, which holds the product of the kept dimensions in
// row-major order. ReduceMax of no element is the lowest value, ReduceMin
// of none the highest, ReduceMean of none NaN for floats; a NaN wins
// ReduceMax and ReduceMin, as in ONNX Runtime.
//
// Neighbouring dimensions reduced alike are merged first, so that a
// reduction over the last axes is one contiguous run per output element
// and one over leading axes a sum of whole rows.
func Reduce[T Number](op ReduceOp, y, x []T, shape []int, reduce []bool) {
	// Merged dimensions, sizes and flags, dropping 1s.
	var dimsBuf [16]int
	var redBuf [16]bool
	dims, red := dimsBuf[:0], redBuf[:0]
	count := 1
	for k, d := range shape {
		if reduce[k] {
			count *= d
		}
		if d == 1 {
			continue
		}
		if n := len(dims); n > 0 && red[n-1] == reduce[k] {
			dims[n-1] *= d
			continue
		}
		dims, red = append(dims, d), append(red, reduce[k])
	}
	outN := 1
	for k, d := range dims {
		if !red[k] {
			outN *= d
		}
	}
	for i := range y[:outN] {
		y[i] = start[T](op)
	}
	if count == 0 {
		finish(op, y[:outN], count)
		return
	}
	for _, d := range dims {
		if d == 0 {
			finish(op, y[:outN], count)
			return
		}
	}
	// Walk x in order, a run of its last merged dimension at a time; an
	// odometer over the other dimensions moves the output index yi along
	// the kept ones (stride 0 on the reduced ones).
	r := len(dims)
	if r == 0 {
		y[0] = combine(op, y[0], x[0])
		finish(op, y[:outN], count)
		return
	}
	run := dims[r-1]
	outer := dims[:r-1]
	ost := make([]int, len(outer))
	unit := 1
	for k := len(outer) - 1; k >= 0; k-- {
		if !red[k] {
			ost[k] = unit
			unit *= outer[k]
		}
	}
	idx := make([]int, len(outer))
	n := len(x) / run
	yi := 0
	for b := 0; b < n; b++ {
		src := x[b*run : (b+1)*run]
		if red[r-1] {
			y[yi] = combine(op, y[yi], fold(op, src))
		} else {
			dst := y[yi*run : (yi+1)*run]
			switch op {
			case ReduceMax:
				for j, v := range src {
					if v > dst[j] || v != v {
						dst[j] = v
					}
				}
			case ReduceMin:
				for j, v := range src {
					if v < dst[j] || v != v {
						dst[j] = v
					}
				}
			default:
				for j, v := range src {
					dst[j] += v
				}
			}
		}
		for k := len(idx) - 1; k >= 0; k-- {
			idx[k]++
			yi += ost[k]
			if idx[k] < outer[k] {
				break
			}
			yi -= ost[k] * outer[k]
			idx[k] = 0
		}
	}
	finish(op, y[:outN], count)
}

func start[T Number](op ReduceOp) T {
	if op != ReduceMax && op != ReduceMin {
		return 0
	}
	var z T
	_, float := any(z).(float32)
	switch {
	case float && op == ReduceMax:
		return T(math.Inf(-1))
	case float:
		return T(math.Inf(1))
	case op == ReduceMax:
		lowest := int64(math.MinInt64)
		return T(lowest)
	}
	highest := int64(math.MaxInt64)
	return T(highest)
}

func combine[T Number](op ReduceOp, a, b T) T {
	switch op {
	case ReduceMax:
		if b > a || b != b {
			return b
		}
		return a
	case ReduceMin:
		if b < a || b != b {
			return b
		}
		return a
	}
	return a + b
}

func fold[T Number](op ReduceOp, s []T) T {
	if op == ReduceMax || op == ReduceMin {
		m := s[0]
		for _, v := range s[1:] {
			m = combine(op, m, v)
		}
		return m
	}
	var acc T
	for _, v := range s {
		acc += v
	}
	return acc
}

func finish[T Number](op ReduceOp, y []T, count int) {
	if op != ReduceMean {
		return
	}
	var z T
	if _, ok := any(z).(float32); ok {
		inv := 1 / float64(count)
		for i, v := range y {
			y[i] = T(float64(v) * inv)
		}
		return
	}
	if count == 0 {
		return
	}
	for i := range y {
		y[i] /= T(count)
	}
}
