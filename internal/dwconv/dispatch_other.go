//go:build !amd64 || purego

package dwconv

func taps(y, p, k []float32, off []int) { tapsGo(y, p, k, off) }

func dots(dk, g, p []float32, off []int) { dotsGo(dk, g, p, off) }

// Kernel names the kernels in use, for benchmarks and reports.
func Kernel() string { return "go" }

func stats(v []float32, k float32) (s, ss float32) { return statsGo(v, k) }

func gradSums(g, x []float32) (s, sx float32) { return gradSumsGo(g, x) }

func affine(y, x []float32, a, b float32) { affineGo(y, x, a, b) }

func affine2(d, g, x []float32, a, b, k float32) { affine2Go(d, g, x, a, b, k) }

func copyRows(dst []float32, ldd int, src []float32, lds, rows, cols int) {
	copyRowsGo(dst, ldd, src, lds, rows, cols)
}

func addRows(dst []float32, ldd int, src []float32, lds, rows, cols int) {
	addRowsGo(dst, ldd, src, lds, rows, cols)
}

func affineRelu(y, x []float32, a, b float32) { affineReluGo(y, x, a, b) }

func reluGradSums(g, x []float32, fa, fb float32) (s, sx float32) {
	return reluGradSumsGo(g, x, fa, fb)
}

func reluAffine2(d, g, x []float32, a, b, k, fa, fb float32) {
	reluAffine2Go(d, g, x, a, b, k, fa, fb)
}

func rowToPlanes(dst []float32, ldd int, src []float32, c, w int) {
	rowToPlanesGo(dst, ldd, src, c, w, 0)
}
