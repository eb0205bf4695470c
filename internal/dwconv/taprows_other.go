//go:build !amd64 || purego

package dwconv

func tapRows(y []float32, ldy int, p []float32, ldp, rows, cols int, k []float32, off []int, bias float32, relu bool) {
	tapRowsGo(y, ldy, p, ldp, rows, cols, k, off, bias, relu)
}
