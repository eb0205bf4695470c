//go:build amd64 && !purego

package dwconv

// tapRowsKernels are the vector kernels by how many vectors a row holds.
var tapRowsKernels = [...]func(y *float32, ldy int, p *float32, ldp, rows, cols int, k *float32, off *int, nt int, bias float32, relu int){
	tapRows1AVX2, tapRows2AVX2, tapRows3AVX2, tapRows4AVX2,
	tapRows5AVX2, tapRows6AVX2, tapRows7AVX2, tapRows8AVX2,
}

func tapRows(y []float32, ldy int, p []float32, ldp, rows, cols int, k []float32, off []int, bias float32, relu bool) {
	if !useAVX2 || cols < 8 || cols > TapRowsMax || len(off) == 0 {
		tapRowsGo(y, ldy, p, ldp, rows, cols, k, off, bias, relu)
		return
	}
	r := 0
	if relu {
		r = 1
	}
	tapRowsKernels[(cols+7)/8-1](&y[0], ldy, &p[0], ldp, rows, cols, &k[0], &off[0], len(off), bias, r)
}
