package gemm

// packA copies the mb x kb block of op(A) that starts at row ic, column pc
// into dst as panels of mr rows: panel by panel, column by column, mr values
// per column, the last panel padded with zeros.
func packA(trans bool, a []float32, lda, ic, pc, mb, kb, mr int, dst []float32) {
	for ir := 0; ir < mb; ir += mr {
		rows := min(mr, mb-ir)
		d := dst[ir*kb : (ir+mr)*kb]
		if trans {
			// op(A)(i, p) = a[p*lda+i]: each column of the panel is contiguous.
			for p := range kb {
				src := a[(pc+p)*lda+ic+ir:][:rows]
				col := d[p*mr : p*mr+mr]
				copy(col, src)
				clear(col[rows:])
			}
			continue
		}
		// op(A)(i, p) = a[i*lda+p]: each row of the panel is contiguous.
		for i := range rows {
			src := a[(ic+ir+i)*lda+pc:][:kb]
			for p, v := range src {
				d[p*mr+i] = v
			}
		}
		for i := rows; i < mr; i++ {
			for p := range kb {
				d[p*mr+i] = 0
			}
		}
	}
}

// packB copies the kb x nb block of op(B) that starts at row pc, column jc
// into dst as panels of nr columns: panel by panel, row by row, nr values
// per row, the last panel padded with zeros.
func packB(trans bool, b []float32, ldb, pc, jc, kb, nb, nr int, dst []float32) {
	for jr := 0; jr < nb; jr += nr {
		cols := min(nr, nb-jr)
		d := dst[jr*kb : (jr+nr)*kb]
		if !trans {
			// op(B)(p, j) = b[p*ldb+j]: each row of the panel is contiguous.
			for p := range kb {
				src := b[(pc+p)*ldb+jc+jr:][:cols]
				row := d[p*nr : p*nr+nr]
				copy(row, src)
				clear(row[cols:])
			}
			continue
		}
		// op(B)(p, j) = b[j*ldb+p]: each column of the panel is contiguous.
		for j := range cols {
			src := b[(jc+jr+j)*ldb+pc:][:kb]
			for p, v := range src {
				d[p*nr+j] = v
			}
		}
		for j := cols; j < nr; j++ {
			for p := range kb {
				d[p*nr+j] = 0
			}
		}
	}
}
