package nhwc

// BiasClip sets each of rows rows of y, c floats ldy apart, to the row of
// x (ldx apart) plus bias, clamped to [lo, hi]: a 1x1 convolution's
// bias and Relu or Relu6 after its matrix product, written where the
// next step reads it. y may be x.
func BiasClip(y []float32, ldy int, x []float32, ldx, rows, c int, bias []float32, lo, hi float32) {
	if rows <= 0 || c <= 0 {
		return
	}
	_ = y[(rows-1)*ldy+c-1]
	_ = x[(rows-1)*ldx+c-1]
	biasClip(y, ldy, x, ldx, rows, c, bias[:c], lo, hi)
}

func biasClipGo(y []float32, ldy int, x []float32, ldx, rows, c int, bias []float32, lo, hi float32, c0 int) {
	for r := range rows {
		yr, xr := y[r*ldy:][:c], x[r*ldx:][:c]
		for j := c0; j < c; j++ {
			yr[j] = clamp(xr[j]+bias[j], lo, hi)
		}
	}
}
