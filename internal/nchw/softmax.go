package nchw

import "math"

// Softmax normalises each row of a [rows][cols] matrix, ONNX Softmax over
// the last axis (the compiler reshapes other axes to this form):
//
//	y[r][j] = exp(x[r][j] - m) / sum over k of exp(x[r][k] - m)
//
// where m is the row's maximum. Subtracting m keeps exp from overflowing
// and leaves the result unchanged; the sum is taken in float64 so that
// long rows lose no precision. y and x hold rows*cols floats and may be
// the same slice. A row holding +Inf or only -Inf gives NaN.
func Softmax(y, x []float32, rows, cols int) {
	for r := range rows {
		src, dst := x[r*cols:(r+1)*cols], y[r*cols:(r+1)*cols]
		m := rowMax(src)
		var sum float64
		for j, v := range src {
			e := math.Exp(float64(v) - m)
			sum += e
			// Keep the exponential so that it is computed once; the row
			// is read before it is overwritten, so y may be x.
			dst[j] = float32(e)
		}
		inv := 1 / sum
		for j, v := range dst {
			dst[j] = float32(float64(v) * inv)
		}
	}
}

// LogSoftmax is the logarithm of Softmax, computed directly as
// y[r][j] = x[r][j] - m - log(sum over k of exp(x[r][k] - m)), which stays
// finite where Softmax would underflow to 0. y and x hold rows*cols floats
// and may be the same slice.
func LogSoftmax(y, x []float32, rows, cols int) {
	for r := range rows {
		src, dst := x[r*cols:(r+1)*cols], y[r*cols:(r+1)*cols]
		m := rowMax(src)
		var sum float64
		for _, v := range src {
			sum += math.Exp(float64(v) - m)
		}
		shift := m + math.Log(sum)
		for j, v := range src {
			dst[j] = float32(float64(v) - shift)
		}
	}
}

// rowMax is the largest value of s, as a float64; -Inf for an empty row.
func rowMax(s []float32) float64 {
	m := float32(math.Inf(-1))
	for _, v := range s {
		if v > m {
			m = v
		}
	}
	return float64(m)
}
