package dwconv

// TapRows is Taps written straight into an output of rows x cols, rows
// ldy apart, reading the padded plane p, rows ldp apart: inference has no
// gradient to keep the flat output for, and its copy out, with the bias
// and Relu passes, cost a third of the taps themselves on a 28-wide map.
// It sets y[r*ldy+j] = bias + sum over t of k[t] * p[r*ldp+j+off[t]] for
// r < rows and j < cols, then, when relu, 0 where that is not above 0 (NaN
// stays NaN, as vmath.Relu). The vector kernels take rows of 8 to
// TapRowsMax columns, one register a vector, and a 3x3 kernel of
// adjacent rows and columns on rows of 8 or more; Go the others.
func TapRows(y []float32, ldy int, p []float32, ldp, rows, cols int, k []float32, off []int, bias float32, relu bool) {
	if rows <= 0 || cols <= 0 {
		return
	}
	reach := 0
	for _, o := range off {
		reach = max(reach, o)
	}
	_ = y[(rows-1)*ldy+cols-1]
	_ = p[(rows-1)*ldp+cols-1+reach] // keeps the kernels inside p
	_ = k[:len(off)]
	tapRows(y, ldy, p, ldp, rows, cols, k, off, bias, relu)
}

// TapRowsMax is the widest row TapRows's vector kernels take for any
// kernel.
const TapRowsMax = 64

// tapRowsGo is TapRows in Go, one tap a pass over each row.
func tapRowsGo(y []float32, ldy int, p []float32, ldp, rows, cols int, k []float32, off []int, bias float32, relu bool) {
	for r := range rows {
		row := y[r*ldy:][:cols]
		for j := range row {
			row[j] = bias
		}
		for t, o := range off {
			kt, in := k[t], p[r*ldp+o:][:cols]
			for j := range row {
				row[j] += kt * in[j]
			}
		}
		if relu {
			for j, v := range row {
				if v <= 0 {
					row[j] = 0
				}
			}
		}
	}
}
