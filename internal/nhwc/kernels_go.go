//go:build !amd64 || purego

package nhwc

func depthwise(d Depthwise3x3, y []float32, ldy int, xp, wp []float32, rows, cols int, lo, hi float32) {
	depthwiseGo(d, y, ldy, xp, wp, rows, cols, lo, hi, 0)
}

// Kernel names the kernels in use, for benchmarks and reports.
func Kernel() string { return "go" }

func meanRows(y, x []float32, rows, c int) { meanRowsGo(y, x, rows, c, 0) }

func pointwise(p Pointwise, y, x []float32, px int, wp []float32, lo, hi float32) {
	pointwiseGo(p, y, x, px, wp, lo, hi, 0)
}

func stem(s Stem3x3, y []float32, ldy int, xp, wp []float32, rows, cols int, lo, hi float32) {
	stemGo(s, y, ldy, xp, wp, rows, cols, lo, hi, 0)
}
