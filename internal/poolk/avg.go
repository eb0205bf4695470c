package poolk

// Avg2x2 averages the oh x ow windows of 2x2 at stride 2 across:
// y[oy*ow+ox] is the mean of x[oy*step+2*ox+{0, 1}] and the two w further
// on (the window's bottom row), summed in that order from zero and then
// divided by 4, as ONNX Runtime's AveragePool does: the same bits on
// every path. step is the distance between the top rows of consecutive
// output rows, 2*w for a stride of 2 down. y holds oh*ow floats.
func Avg2x2(y, x []float32, w, step, oh, ow int) {
	if oh <= 0 || ow <= 0 {
		return
	}
	_, _ = y[oh*ow-1], x[(oh-1)*step+w+2*ow-1]
	avg2x2(y, x, w, step, oh, ow)
}

// avg2x2Go is Avg2x2 in Go, one row at a time.
func avg2x2Go(y, x []float32, w, step, oh, ow int) {
	for oy := range oh {
		top := x[oy*step:]
		a, b, row := top[:2*ow:2*ow], top[w:w+2*ow:w+2*ow], y[oy*ow:(oy+1)*ow]
		for j := range row {
			var sum float32
			sum += a[2*j]
			sum += a[2*j+1]
			sum += b[2*j]
			sum += b[2*j+1]
			row[j] = sum / 4
		}
	}
}
