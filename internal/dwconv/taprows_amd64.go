//go:build amd64 && !purego

package dwconv

// tapRowsKernels are the vector kernels by how many vectors a row holds.
var tapRowsKernels = [...]func(y *float32, ldy int, p *float32, ldp, rows, cols int, k *float32, off *int, nt int, bias float32, relu int){
	tapRows1AVX2, tapRows2AVX2, tapRows3AVX2, tapRows4AVX2,
	tapRows5AVX2, tapRows6AVX2, tapRows7AVX2, tapRows8AVX2,
}

func tapRows(y []float32, ldy int, p []float32, ldp, rows, cols int, k []float32, off []int, bias float32, relu bool) {
	if !useAVX2 || cols < 8 || len(off) == 0 {
		tapRowsGo(y, ldy, p, ldp, rows, cols, k, off, bias, relu)
		return
	}
	r := 0
	if relu {
		r = 1
	}
	if kstep, ok := rows3x3(off); ok && kstep == ldp {
		tap3x3Strips(y, ldy, p, ldp, rows, cols, k, bias, r)
		return
	}
	if cols > TapRowsMax {
		tapRowsGo(y, ldy, p, ldp, rows, cols, k, off, bias, relu)
		return
	}
	tapRowsKernels[(cols+7)/8-1](&y[0], ldy, &p[0], ldp, rows, cols, &k[0], &off[0], len(off), bias, r)
}

// tap3x3Strips runs the 3x3 kernels over strips of 16 columns, the last
// one ending at the row's end (overlapping the one before: the same sums),
// or, for rows of 8 to 15, over the row's first and last vectors.
func tap3x3Strips(y []float32, ldy int, p []float32, ldp, rows, cols int, k []float32, bias float32, relu int) {
	if cols < 16 {
		tap3x3x1AVX2(&y[0], ldy, &p[0], ldp, rows, &k[0], bias, relu)
		tap3x3x1AVX2(&y[cols-8], ldy, &p[cols-8], ldp, rows, &k[0], bias, relu)
		return
	}
	for j := 0; j < cols; j += 16 {
		j0 := min(j, cols-16)
		tap3x3x2AVX2(&y[j0], ldy, &p[j0], ldp, rows, &k[0], bias, relu)
	}
}

// rows3x3 reports whether off are a 3x3 kernel's taps of adjacent columns,
// its rows kstep apart.
func rows3x3(off []int) (kstep int, ok bool) {
	if len(off) != 9 || off[0] != 0 {
		return 0, false
	}
	kstep = off[3]
	for i := range 3 {
		for j := range 3 {
			if off[3*i+j] != i*kstep+j {
				return 0, false
			}
		}
	}
	return kstep, true
}
