package nhwc

// MeanRows sets y[j], j < c, to the mean of x's rows rows of c floats:
// GlobalAveragePool of a channels-last map, each channel's sum taken
// pixel after pixel in float32, as ONNX Runtime's channel-blocked pool
// does.
func MeanRows(y, x []float32, rows, c int) {
	if rows <= 0 || c <= 0 {
		return
	}
	meanRows(y[:c], x[:rows*c], rows, c)
}

func meanRowsGo(y, x []float32, rows, c, c0 int) {
	for j := c0; j < c; j++ {
		var s float32
		for r := range rows {
			s += x[r*c+j]
		}
		y[j] = s / float32(rows)
	}
}
