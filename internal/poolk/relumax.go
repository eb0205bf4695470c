package poolk

import "math"

// ReluMax2x2 pools max(x, 0) over the oh x ow windows of 2x2 at stride 2
// across, the inference pool after a ReLU, which commute: y[oy*ow+ox] is
// the largest of 0 and the pixels x[oy*step+2*ox+{0, 1}] and the two w
// further on (the window's bottom row). step is the distance between
// the top rows of consecutive output rows, 2*w for a stride of 2 down. y
// holds oh*ow floats.
//
// The floats compare as their bits do as integers: from a floor of +0 no
// negative float (sign bit set, a negative integer) wins, -0 and a
// negative NaN included, and the others order as their bits do, so each
// window is four integer maxima without a branch. A positive NaN (bits
// above +Inf's) would win; its window is pooled again skipping NaN, so
// that a window of NaN alone gives 0.
func ReluMax2x2(y, x []float32, w, step, oh, ow int) {
	if oh <= 0 || ow <= 0 {
		return
	}
	_, _ = y[oh*ow-1], x[(oh-1)*step+w+2*ow-1]
	reluMax2x2(y, x, w, step, oh, ow)
}

// reluMax2x2Go is ReluMax2x2 in Go, one row at a time.
func reluMax2x2Go(y, x []float32, w, step, oh, ow int) {
	for oy := range oh {
		top := x[oy*step:]
		reluMax2x2Row(y[oy*ow:(oy+1)*ow], top[:2*ow:2*ow], top[w:w+2*ow:w+2*ow])
	}
}

// reluMax2x2Row pools rows a and b into row.
func reluMax2x2Row(row, a, b []float32) {
	const inf = 0x7f800000
	a, b = a[:2*len(row)], b[:2*len(row)]
	for j := range row {
		m := max(int32(math.Float32bits(a[2*j])), int32(math.Float32bits(a[2*j+1])),
			int32(math.Float32bits(b[2*j])), int32(math.Float32bits(b[2*j+1])), 0)
		if m > inf {
			v := float32(0)
			for _, x := range [4]float32{a[2*j], a[2*j+1], b[2*j], b[2*j+1]} {
				if x > v {
					v = x
				}
			}
			row[j] = v
			continue
		}
		row[j] = math.Float32frombits(uint32(m))
	}
}

// ReluMax2x2NHWC is ReluMax2x2 on a channels-last map of c channels,
// rows w floats apart: y[(oy*ow+ox)*c+j] is the largest of 0 and channel
// j of the window's pixels, x[(2*oy+dy)*w+(2*ox+dx)*c+j] for dy and dx 0
// and 1. y holds oh*ow*c floats.
func ReluMax2x2NHWC(y, x []float32, c, w, oh, ow int) {
	if oh <= 0 || ow <= 0 || c <= 0 {
		return
	}
	_, _ = y[oh*ow*c-1], x[(2*oh-1)*w+2*ow*c-1]
	reluMax2x2NHWC(y, x, c, w, oh, ow)
}

// reluMax2x2NHWCGo is ReluMax2x2NHWC in Go, a channel at a time: the
// window's top pixels are reluMax2x2Row's first row, its bottom ones the
// second.
func reluMax2x2NHWCGo(y, x []float32, c, w, oh, ow int) {
	for oy := range oh {
		for ox := range ow {
			top := x[2*oy*w+2*ox*c:]
			bot := top[w:]
			out := y[(oy*ow+ox)*c:][:c]
			for j := range out {
				reluMax2x2Row(out[j:j+1], []float32{top[j], top[c+j]}, []float32{bot[j], bot[c+j]})
			}
		}
	}
}

// ReluMax3x3 is ReluMax2x2 for windows of 3x3 at stride 3 across:
// y[oy*ow+ox] is the largest of 0 and the pixels x[oy*step+3*ox+{0, 1,
// 2}] and the rows w and 2*w further on.
func ReluMax3x3(y, x []float32, w, step, oh, ow int) {
	if oh <= 0 || ow <= 0 {
		return
	}
	_, _ = y[oh*ow-1], x[(oh-1)*step+2*w+3*ow-1]
	reluMax3x3(y, x, w, step, oh, ow)
}

// reluMax3x3Go is ReluMax3x3 in Go, one row at a time.
func reluMax3x3Go(y, x []float32, w, step, oh, ow int) {
	n := 3 * ow
	for oy := range oh {
		top := x[oy*step:]
		reluMax3x3Row(y[oy*ow:(oy+1)*ow], top[:n:n], top[w:w+n:w+n], top[2*w:2*w+n:2*w+n])
	}
}

// reluMax3x3Row pools rows a, b and c into row.
func reluMax3x3Row(row, a, b, c []float32) {
	const inf = 0x7f800000
	n := 3 * len(row)
	a, b, c = a[:n], b[:n], c[:n]
	bits := func(v float32) int32 { return int32(math.Float32bits(v)) }
	for j := range row {
		i := 3 * j
		m := max(bits(a[i]), bits(a[i+1]), bits(a[i+2]), bits(b[i]), bits(b[i+1]), bits(b[i+2]),
			bits(c[i]), bits(c[i+1]), bits(c[i+2]), 0)
		if m > inf {
			row[j] = max(reluMaxSkipNaN(a[i:i+3]), reluMaxSkipNaN(b[i:i+3]), reluMaxSkipNaN(c[i:i+3]))
			continue
		}
		row[j] = math.Float32frombits(uint32(m))
	}
}

// ReluMaxWindow is max(0, the window's values, NaN skipped) over the
// k x k window at top, rows stride apart: the pool of any other window
// size, in Go.
func ReluMaxWindow(top []float32, stride, k int) float32 {
	var m float32
	for r := range k {
		m = max(m, reluMaxSkipNaN(top[r*stride:r*stride+k]))
	}
	return m
}

// reluMaxSkipNaN is the largest of 0 and the values that are not NaN.
func reluMaxSkipNaN(w []float32) float32 {
	var m float32
	for _, v := range w {
		if v > m {
			m = v
		}
	}
	return m
}
