package gemm

// A packed block of op(A) is a row of panels of mr rows: panel after panel,
// column after column, mr values per column, the last panel padded with
// zeros. A packed block of op(B) is panels of nr columns: panel after panel,
// row after row, nr values per row, the last panel padded with zeros. Either
// way a panel is w values for each step along k, and it comes from a matrix
// whose w rows or columns are contiguous in memory (copyPanel) or whose k
// values are (transposePanel).

// packA packs the mb x kb block of op(A) that starts at row ic, column pc.
func packA(ks *kernelSet, trans bool, a []float32, lda, ic, pc, mb, kb, mr int, dst []float32) {
	for ir := 0; ir < mb; ir += mr {
		rows := min(mr, mb-ir)
		d := dst[ir*kb : (ir+mr)*kb]
		if trans {
			// op(A)(i, p) = a[p*lda+i]
			copyPanel(ks, mr, rows, kb, a[pc*lda+ic+ir:], lda, d)
		} else {
			// op(A)(i, p) = a[i*lda+p]
			transposePanel(ks, mr, rows, kb, a[(ic+ir)*lda+pc:], lda, d)
		}
	}
}

// packB packs the kb x nb block of op(B) that starts at row pc, column jc.
func packB(ks *kernelSet, trans bool, b []float32, ldb, pc, jc, kb, nb, nr int, dst []float32) {
	for jr := 0; jr < nb; jr += nr {
		cols := min(nr, nb-jr)
		d := dst[jr*kb : (jr+nr)*kb]
		if trans {
			// op(B)(p, j) = b[j*ldb+p]
			transposePanel(ks, nr, cols, kb, b[(jc+jr)*ldb+pc:], ldb, d)
		} else {
			// op(B)(p, j) = b[p*ldb+j]
			copyPanel(ks, nr, cols, kb, b[pc*ldb+jc+jr:], ldb, d)
		}
	}
}

// copyPanel sets dst[p*w+i] to src[p*ld+i] for i < n and to 0 for n <= i < w,
// for p < kb.
func copyPanel(ks *kernelSet, w, n, kb int, src []float32, ld int, dst []float32) {
	if n == w && ks.copy != nil && ks.copy(w, kb, src, ld, dst) {
		return
	}
	for p := range kb {
		row := dst[p*w : p*w+w]
		copy(row, src[p*ld:p*ld+n])
		clear(row[n:])
	}
}

// transposePanel sets dst[p*w+i] to src[i*ld+p] for i < n and to 0 for
// n <= i < w, for p < kb.
func transposePanel(ks *kernelSet, w, n, kb int, src []float32, ld int, dst []float32) {
	dst = dst[:kb*w]
	if n < w {
		clear(dst) // one long clear beats a short one per column
	}
	// The fast path, if any, does a leading block of rows x cols; the
	// loops below do the columns right of it and the rows below it.
	rows, cols := 0, 0
	if ks.transpose != nil {
		rows, cols = ks.transpose(n, w, kb, src, ld, dst)
	}
	for p := cols; p < kb; p++ {
		d := dst[p*w : p*w+rows]
		for i := range d {
			d[i] = src[i*ld+p]
		}
	}
	i := rows
	// Four rows at a time, to write four neighbours per step.
	for ; i+4 <= n; i += 4 {
		r0 := src[i*ld : i*ld+kb]
		r1 := src[(i+1)*ld : (i+1)*ld+kb]
		r2 := src[(i+2)*ld : (i+2)*ld+kb]
		r3 := src[(i+3)*ld : (i+3)*ld+kb]
		d := dst[i:]
		for p, v := range r0 {
			q := d[p*w : p*w+4]
			q[0], q[1], q[2], q[3] = v, r1[p], r2[p], r3[p]
		}
	}
	for ; i < n; i++ {
		d := dst[i:]
		for p, v := range src[i*ld : i*ld+kb] {
			d[p*w] = v
		}
	}
}
