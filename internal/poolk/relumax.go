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
